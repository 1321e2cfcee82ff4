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
use crate::monitoring::ServiceAlerts;
use crate::monitoring::checks::Checker;
use crate::monitoring::{MonitoringService, Scheduler, SchedulerMetrics};
use crate::notifications::{self, NotificationService};
use crate::performance::PerformanceMonitor;
use crate::realtime::{self, Bus, Hub, Listener, Realtime};
use crate::state::{AppState, Services};
use crate::storage::{self, Db, migrations};
use crate::workers::{Backoff, Schedule, WorkerMetrics, Workers};

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
        let accounts = AccountService::new(AccountStore::new(db.clone()), clock.clone(), tokens.clone())
            .with_session_rules(config.web.session_rules());
        let realtime = &config.realtime;
        let hub = Hub::new(realtime.send_queue, realtime.max_sockets_per_user);
        let bus = Bus::new(db.clone(), hub, tokens, Duration::from_millis(realtime.announce_batch_ms));
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
        let workers = WorkerMetrics::default();
        let metrics = Metrics::new(db.clone(), &notifications, bus.hub(), &checks, &deliveries, &workers);
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
            workers,
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
        let workers = start_workers(&state, self.listener, background.clone());
        let sockets = state.realtime.shutdown.clone();
        let grace = state.config.shutdown_grace();
        let db = state.db.clone();
        let router = http::router(state);
        let mut server = tokio::spawn(
            axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
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
        // The scheduler drains its checks for at most 10 s.
        workers.join(Duration::from_secs(20)).await;
        if tokio::time::timeout(Duration::from_secs(10), db.close()).await.is_err() {
            tracing::warn!("database pool did not close within 10 s");
        }
        tracing::info!("stopped");
        served.context("server task")?.context("server")
    }
}

/// Every background worker of a serving instance, by name (the names label
/// `/metrics`): see [`crate::workers`].
fn start_workers(state: &AppState, listener: Listener, stop: CancellationToken) -> Workers {
    let mut workers = Workers::new(stop, state.workers.clone());
    let pool = &state.config.pool;
    let backoff = Backoff::from_millis(pool.connect_retry_initial_ms, pool.connect_retry_max_ms);
    let db = state.db.clone();
    let health = Schedule::every(Duration::from_secs(pool.health_check_interval_seconds));
    workers.every("database_health", health, move || storage::HealthCheck::new(db.clone(), backoff));
    let accounts = state.accounts.clone();
    workers.every("token_usage", accounts::UsageFlush::schedule(), move || accounts::UsageFlush(accounts.clone()));
    let accounts = state.accounts.clone();
    workers
        .every("session_purge", accounts::SessionPurge::schedule(), move || accounts::SessionPurge(accounts.clone()));
    let (notifications, config) = (state.notifications.clone(), state.config.notifications.clone());
    let schedule = notifications::Cleanup::schedule(&config);
    workers.every("notification_cleanup", schedule, move || {
        notifications::Cleanup::new(notifications.clone(), config.clone())
    });
    let (monitoring, config) = (state.monitoring.clone(), state.config.monitoring.clone());
    let schedule = crate::monitoring::Housekeeping::schedule(&config);
    workers.every("monitoring_housekeeping", schedule, move || crate::monitoring::Housekeeping {
        service: monitoring.clone(),
        config: config.clone(),
    });
    let sampler = crate::performance::Sampler(state.performance.clone());
    workers.every("performance_sampler", sampler.schedule(), move || crate::performance::Sampler(sampler.0.clone()));
    let outbox = crate::alerts::Outbox { alerts: state.alerts.clone(), metrics: state.deliveries.clone() };
    workers.every("alert_outbox", outbox.schedule(), move || crate::alerts::Outbox {
        alerts: outbox.alerts.clone(),
        metrics: outbox.metrics.clone(),
    });
    let alerting = ServiceAlerts { monitoring: state.monitoring.clone(), alerts: state.alerts.clone() };
    workers.every("service_alerts", alerting.schedule(), move || ServiceAlerts {
        monitoring: alerting.monitoring.clone(),
        alerts: alerting.alerts.clone(),
    });
    // The first run listens on the connection made at build time, so no
    // event is missed between start-up and serving; a restart listens anew.
    let bus = state.realtime.bus.clone();
    let mut first = Some(listener);
    workers.long_running("realtime_listener", move |beat, stop| {
        let (bus, first) = (bus.clone(), first.take());
        async move {
            let listener = match first {
                Some(listener) => listener,
                None => bus.listen().await?,
            };
            bus.run_listener(listener, backoff, stop, beat).await;
            Ok(())
        }
    });
    // PostgreSQL: announcing what this instance committed, and the sweep
    // that finds what a lost announcement did not say (docs/realtime.md).
    if let Some(announcer) = state.realtime.bus.announcer() {
        workers.long_running("realtime_announcer", move |beat, stop| announcer.clone().run(stop, beat, backoff));
        let sweep = Schedule::every(Duration::from_secs(state.config.realtime.sweep_interval_seconds));
        let bus = state.realtime.bus.clone();
        workers.every("realtime_sweep", sweep, move || realtime::Sweep(bus.clone()));
    }
    if state.config.monitoring.scheduler {
        let (monitoring, config, metrics) =
            (state.monitoring.clone(), state.config.monitoring.clone(), state.checks.clone());
        workers.long_running("check_scheduler", move |beat, stop| {
            let scheduler = Scheduler::new(monitoring.clone(), config.clone(), metrics.clone());
            async move {
                scheduler.run(stop, beat).await;
                Ok(())
            }
        });
    }
    workers
}
