//! Building and running herald: connect, migrate, bootstrap, serve, and
//! shut down in order. The entry point takes a bound listener and a
//! cancellation token, so tests bind port 0 and stop it without signals.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accounts::{self, AccountService, AccountStore, Email, RawToken, TokenCache, User};
use crate::alerts::channels::Sender;
use crate::alerts::{AlertService, DeliveryMetrics};
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::http::metrics::Metrics;
use crate::monitoring::checks::Checker;
use crate::monitoring::{MonitoringService, Scheduler, SchedulerMetrics};
use crate::notifications::{self, NotificationService};
use crate::performance::PerformanceMonitor;
use crate::realtime::{Bus, Hub, Listener, Realtime};
use crate::state::{AppState, Services};
use crate::storage::{self, Db, migrations};

/// This process as instances name each other (monitoring leases and
/// results, performance samples): host and process id.
pub fn instance_name() -> String {
    format!("{}:{}", std::env::var("HOSTNAME").unwrap_or_else(|_| "herald".into()), std::process::id())
}

/// A connected, migrated herald, ready to serve.
pub struct App {
    state: AppState,
    /// Set when this start created the first admin: its one-time token.
    pub bootstrap: Option<(User, RawToken)>,
    /// The realtime LISTEN connection (PostgreSQL), already listening.
    listener: Listener,
}

impl App {
    /// Connect to the database, apply migrations, create the first admin on
    /// an empty database.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let db = storage::connect(&config).await?;
        migrations::run(&db).await.context("database migration")?;
        let tokens = TokenCache::new(Duration::from_secs(config.auth_cache_seconds));
        let accounts = AccountService::new(AccountStore::new(db.clone()), clock.clone(), tokens.clone());
        let realtime = &config.realtime;
        let bus = Bus::new(db.clone(), Hub::new(realtime.send_queue, realtime.max_sockets_per_user), tokens);
        // Listening before the server is ready: no event committed after
        // readiness can be missed.
        let listener = bus.listen().await.context("realtime listener")?;
        let notifications = NotificationService::new(db.clone(), clock.clone(), bus.clone());
        let checker = Checker::new().context("starting the check runner")?;
        let sender = Sender::new().context("starting the alert sender")?;
        let alerts = AlertService::new(db.clone(), notifications.clone(), sender, clock.clone(), config.alerts.clone());
        let deliveries = DeliveryMetrics::default();
        let performance = PerformanceMonitor::new(
            db.clone(),
            alerts.clone(),
            clock.clone(),
            config.performance.clone(),
            config.pool.slow_query_ms,
            instance_name(),
        );
        let monitoring = MonitoringService::start(db.clone(), notifications.clone(), checker, clock, bus.clone())
            .await
            .context("registering this instance for monitoring")?;
        let checks = SchedulerMetrics::default();
        let email =
            Email::parse(&config.bootstrap_admin_email).map_err(|e| anyhow::anyhow!("bootstrap_admin_email: {e}"))?;
        let bootstrap = accounts.bootstrap_admin(&email).await.context("creating the first admin")?;
        let metrics = Metrics::new(db.clone(), &notifications, bus.hub(), &checks, &deliveries);
        let realtime = Realtime { bus, shutdown: CancellationToken::new() };
        let state = AppState::new(Services {
            config: Arc::new(config),
            db,
            accounts,
            notifications,
            monitoring,
            alerts,
            performance,
            deliveries,
            checks,
            realtime,
            metrics,
        });
        Ok(Self { state, bootstrap, listener })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Serve on `listener` until `shutdown` is cancelled, then: stop
    /// accepting, give in-flight requests up to the grace period, stop
    /// background tasks, close the pool.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state;
        let background = CancellationToken::new();
        let pool = state.config.pool.clone();
        let health = tokio::spawn(storage::run_health_checks(
            state.db.clone(),
            Duration::from_secs(pool.health_check_interval_seconds),
            storage::Backoff {
                initial: Duration::from_millis(pool.connect_retry_initial_ms),
                max: Duration::from_millis(pool.connect_retry_max_ms),
            },
            background.clone(),
        ));
        let usage = tokio::spawn(accounts::run_usage_flush(state.accounts.clone(), background.clone()));
        let cleanup = tokio::spawn(notifications::run_cleanup(
            state.notifications.clone(),
            state.config.notifications.clone(),
            background.clone(),
        ));
        let backoff = storage::Backoff {
            initial: Duration::from_millis(pool.connect_retry_initial_ms),
            max: Duration::from_millis(pool.connect_retry_max_ms),
        };
        let listen = tokio::spawn(state.realtime.bus.clone().run_listener(self.listener, backoff, background.clone()));
        let monitoring = state.config.monitoring.clone();
        let housekeeping = tokio::spawn(crate::monitoring::run_housekeeping(
            state.monitoring.clone(),
            monitoring.clone(),
            background.clone(),
        ));
        let sampler = tokio::spawn(crate::performance::run_sampler(state.performance.clone(), background.clone()));
        let outbox =
            tokio::spawn(crate::alerts::run_outbox(state.alerts.clone(), state.deliveries.clone(), background.clone()));
        let service_alerts = tokio::spawn(crate::monitoring::alerting::run_service_alerts(
            state.monitoring.clone(),
            state.alerts.clone(),
            state.config.alerts.clone(),
            state.monitoring.status_changes(),
            background.clone(),
        ));
        let scheduler = monitoring.scheduler.then(|| {
            let scheduler = Scheduler::new(state.monitoring.clone(), monitoring, state.checks.clone());
            tokio::spawn(scheduler.run(background.clone()))
        });
        let sockets = state.realtime.shutdown.clone();
        let grace = state.config.shutdown_grace();
        let db = state.db.clone();
        let router = http::router(state);
        let mut server = tokio::spawn(
            axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned()).into_future(),
        );
        let served = tokio::select! {
            result = &mut server => result,
            _ = shutdown.cancelled() => {
                tracing::info!(grace_seconds = grace.as_secs(), "shutting down: finishing in-flight requests");
                // Sockets close with 1001 so clients reconnect elsewhere.
                sockets.cancel();
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("grace period over; dropping the requests still running");
                        server.abort();
                        Ok(Ok(()))
                    }
                }
            }
        };
        sockets.cancel();
        background.cancel();
        let _ = tokio::join!(health, cleanup, listen, usage, housekeeping, outbox, service_alerts, sampler);
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        if tokio::time::timeout(Duration::from_secs(10), db.close()).await.is_err() {
            tracing::warn!("database pool did not close within 10 s");
        }
        tracing::info!("stopped");
        served.context("server task")?.context("server")
    }
}
