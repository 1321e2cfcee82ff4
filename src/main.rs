//! The `herald` command: parse arguments, load configuration, call the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald::accounts::{AccountService, AccountStore, Email, Label, Role, TokenCache};
use herald::clock::Clock;
use herald::config::{Config, ConfigError, Overrides};
use herald::storage::{self, migrations};
use herald::{App, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "herald", version, about = "Watch services, tell people.")]
struct Cli {
    /// Configuration file (default: herald.toml in the data directory, if present).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, herald.toml).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, global = true)]
    listen: Option<String>,
    /// postgres://… for PostgreSQL; unset for the embedded SQLite.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the database performance report (figures, trends, firing
    /// alerts, recommendations) from the samples a running herald stored.
    Report {
        /// Print the report as JSON (the same as /api/v1/system/performance/report).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        email: String,
        /// admin, operator, member or sender.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// Also set the password the user signs in to the web app with,
        /// read from standard input (not echoed on a terminal).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set (or replace) a user's web sign-in password.
    Password {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (not echoed on a
        /// terminal); the only way to give one, so it is never in the
        /// shell's history or the process list.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a user; the raw token is the last line of stdout.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        expires_in_seconds: Option<i64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        listen: cli.listen.clone(),
        database_url: cli.database_url.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => return config_failure(&e),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let level = match command {
        Command::Serve => config.log_level.clone(),
        // One-shot commands keep stderr quiet unless something is wrong.
        _ => "warn".to_string(),
    };
    telemetry::init(config.log_format, &level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Config => {
                print!("{}", config.to_redacted_toml());
                Ok(())
            }
            Command::User(UserCommand::Create { email, role, name, password_stdin }) => {
                create_user(config, &email, &role, name, password_stdin).await
            }
            Command::User(UserCommand::Password { email, password_stdin: _ }) => set_password(config, &email).await,
            Command::Token(TokenCommand::Create { email, name, expires_in_seconds }) => {
                create_token(config, &email, &name, expires_in_seconds).await
            }
            Command::Report { json } => report(config, json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                return config_failure(ce);
            }
            eprintln!("herald: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("herald: {e}");
    ExitCode::from(2)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    println!("herald listening on http://{address} (API docs: http://{address}/docs)");
    if let Some((admin, token)) = &app.bootstrap {
        let email = &app.state().config.bootstrap_admin_email;
        let setup = app.state().accounts.mint_setup_token(admin.id).await.context("making the setup link")?;
        println!();
        println!("First start on an empty database: created the admin user {email}.");
        println!("Its API token, shown this once (keep it; herald stores only a hash):");
        println!();
        println!("    {}", token.expose());
        println!();
        println!("Use it as: curl -H 'Authorization: Bearer <token>' http://{address}/api/v1/me");
        println!("Lost it? Mint another: herald token create --email {email} --name admin");
        println!();
        println!("Sign in to the web app: choose the admin's password here (the link works once, for 24 hours):");
        println!();
        println!("    http://{address}/setup?token={}", setup.expose());
        println!();
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    app.serve(listener, shutdown).await
}

/// Cancel on SIGINT or SIGTERM.
async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
    shutdown.cancel();
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = storage::connect(&config).await?;
    let status = migrations::run(&db).await?;
    db.close().await;
    println!("database schema at version {}", status.applied.unwrap_or(0));
    Ok(())
}

/// Build the performance report from stored samples and print it.
async fn report(config: Config, json: bool) -> anyhow::Result<()> {
    let db = storage::connect(&config).await?;
    migrations::run(&db).await?;
    let report = herald::performance::report_from_storage(&db, None, chrono::Utc::now(), &config.performance).await?;
    db.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", herald::performance::report::render_text(&report));
    }
    Ok(())
}

/// Connect and migrate for a one-shot account command.
async fn accounts(config: &Config) -> anyhow::Result<(storage::Db, AccountService)> {
    let db = storage::connect(config).await?;
    migrations::run(&db).await?;
    let service = AccountService::new(AccountStore::new(db.clone()), Clock::system(), TokenCache::new(Duration::ZERO));
    Ok((db, service))
}

async fn create_user(
    config: Config,
    email: &str,
    role: &str,
    name: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let name = name.as_deref().map(Label::parse).transpose().map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    if password_stdin && role == Role::Sender {
        anyhow::bail!("--password-stdin: senders are applications and have no password");
    }
    // Read (and check) the password before anything is created.
    let password = if password_stdin { Some(read_password()?) } else { None };
    let (db, accounts) = accounts(&config).await?;
    let result = async {
        let user = accounts
            .create_user(Some(&email), role, name.as_ref(), None)
            .await
            .with_context(|| format!("cannot create user {}", email.as_str()))?;
        if let Some(password) = &password {
            accounts.set_password(user.id, password).await.context("cannot set the password")?;
        }
        anyhow::Ok(user)
    }
    .await;
    db.close().await;
    let user = result?;
    let with = if password.is_some() { " (password set)" } else { "" };
    println!("created user id={} email={} role={}{with}", user.id, email.as_str(), user.role);
    Ok(())
}

async fn set_password(config: Config, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let password = read_password()?;
    let (db, accounts) = accounts(&config).await?;
    let result = async {
        let user = accounts.user_by_email(&email).await.with_context(|| format!("user {}", email.as_str()))?;
        accounts.set_password(user.id, &password).await.context("cannot set the password")
    }
    .await;
    db.close().await;
    result?;
    println!("password set for {}", email.as_str());
    Ok(())
}

/// The password from standard input: one line, its line ending dropped.
/// On a terminal it is asked for without echo; piped, the whole input is
/// the password (one trailing newline removed).
fn read_password() -> anyhow::Result<herald::accounts::password::Password> {
    use std::io::IsTerminal;
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password (not shown): ").context("cannot read the password")?
    } else {
        let mut text = std::io::read_to_string(std::io::stdin()).context("cannot read the password from stdin")?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    };
    herald::accounts::password::Password::parse(&text)
        .map_err(|e| anyhow::anyhow!("--password-stdin: the password {e}"))
}

async fn create_token(config: Config, email: &str, name: &str, expires_in: Option<i64>) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let name = Label::parse(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    if let Some(s) = expires_in.filter(|s| *s <= 0) {
        anyhow::bail!("--expires-in-seconds: {s} must be positive");
    }
    let (db, accounts) = accounts(&config).await?;
    let result = async {
        let user = accounts.user_by_email(&email).await.with_context(|| format!("user {}", email.as_str()))?;
        accounts.create_token(user.id, &name, expires_in).await.context("cannot create token")
    }
    .await;
    db.close().await;
    let (token, raw) = result?;
    println!("created token id={} name={:?} for {}", token.id, token.name, email.as_str());
    println!("{}", raw.expose());
    Ok(())
}
