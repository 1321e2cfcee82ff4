//! The `herald` binary as an operator uses it: serve with nothing
//! configured, config errors, `config`, `user create`, `user password`,
//! `token create`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald::App;
use herald::config::Config;
use herald::secret::Secret;
use reqwest::StatusCode;

use crate::harness::process::{address_in, herald};
use crate::harness::{Backend, both, postgres_database};

#[tokio::test]
async fn serve_with_no_configuration_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Only the port is chosen by the test (0 = any free one), so parallel runs never clash.
    let mut child = herald(dir.path())
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn herald");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let address = address_in(&first);
    let rest: Vec<String> = lines.by_ref().take(13).map(|l| l.unwrap()).collect();
    let token = rest
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("hld_"))
        .expect("one-time admin token printed")
        .to_string();
    assert!(rest.iter().any(|l| l.contains("admin@localhost")), "{rest:?}");
    assert!(dir.path().join("herald-data/herald.db").exists(), "./herald-data created");

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // And a one-time link where the admin chooses a password for the web app.
    let link = rest.iter().map(|l| l.trim()).find(|l| l.contains("/setup?token=")).expect("a setup link printed");
    assert!(link.starts_with(&format!("http://{address}/setup?token=")), "{link}");
    let form = client.get(link).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("Choose your password"));
    let ready = client.get(format!("http://{address}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let me = client.get(format!("http://{address}/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "herald did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

#[test]
fn bad_values_are_clear_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = herald(dir.path()).arg("config").env("HERALD_POOL__MAX_CONNECTIONS", "lots").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pool.max_connections"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    std::fs::create_dir_all(dir.path().join("herald-data")).unwrap();
    std::fs::write(dir.path().join("herald-data/herald.toml"), "listen = \"not an address\"\n").unwrap();
    let out = herald(dir.path()).arg("config").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen") && err.contains("herald.toml"), "{err}");

    let out = herald(dir.path()).args(["config", "--config", "/nonexistent/herald.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    let out = herald(dir.path())
        .arg("serve")
        .env("HERALD_DATABASE_URL", "mysql://x")
        .env("HERALD_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_url"));
}

#[test]
fn config_layers_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nenv = \"production\"\n[pool]\nmin_connections = 2\n").unwrap();
    let out = herald(dir.path())
        .args(["--config", file.to_str().unwrap(), "config", "--listen", "127.0.0.1:9100"])
        .env("HERALD_DATABASE_URL", "postgres://herald:hunter2@db.example:5432/herald")
        .env("HERALD_POOL__MIN_CONNECTIONS", "3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "password redacted:\n{text}");
    assert!(text.contains("postgres://herald:REDACTED@db.example:5432/herald"), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:9100\""), "flag beats file:\n{text}");
    assert!(text.contains("min_connections = 3"), "env beats file:\n{text}");
    assert!(text.contains("env = \"production\""), "file beats default:\n{text}");
    assert!(text.contains("max_connections = 20"), "production pool max:\n{text}");
}

both!(user_and_token_commands_mint_a_working_token);

/// `HERALD_DATABASE_URL` for a child herald on `backend`: none for SQLite
/// (the data directory's file), a fresh PostgreSQL database otherwise;
/// `None` when PostgreSQL is not available here (the test is skipped).
fn database_url(backend: Backend) -> Option<Option<String>> {
    match backend {
        Backend::Sqlite => Some(None),
        Backend::Postgres => postgres_database().map(Some),
    }
}

async fn user_and_token_commands_mint_a_working_token(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database_url(backend) else { return };
    let run = |args: &[&str]| {
        let mut cmd = herald(dir.path());
        cmd.args(args);
        if let Some(url) = &url {
            cmd.env("HERALD_DATABASE_URL", url);
        }
        cmd.output().unwrap()
    };
    let out = run(&["user", "create", "--email", "App@Example.com", "--role", "sender"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "create", "--email", "app@example.com", "--role", "sender"]);
    assert!(!out.status.success(), "duplicate email refused");
    let out = run(&["user", "create", "--email", "x@example.com", "--role", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
    let out = run(&["token", "create", "--email", "app@example.com", "--name", "backend"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout.lines().last().expect("a last line").to_string();
    assert!(token.starts_with("hld_") && !token.contains(' '), "raw token alone on the last line: {stdout:?}");
    let out = run(&["token", "create", "--email", "nobody@example.com", "--name", "x"]);
    assert!(!out.status.success());
    let migrate = run(&["migrate"]);
    assert!(migrate.status.success());

    // The token authenticates against a server on the same database.
    let config = Config {
        data_dir: dir.path().join("herald-data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url.map(Secret::new),
        ..Config::default()
    };
    let app = App::build(config).await.expect("build");
    let principal = app.state().accounts.authenticate(&token).await.expect("CLI token authenticates");
    assert_eq!(principal.user.email.as_deref(), Some("app@example.com"));
    assert_eq!(principal.user.role.as_str(), "sender");
    app.db().close().await;
}

both!(password_commands_read_stdin_and_store_only_an_argon2id_digest);

async fn password_commands_read_stdin_and_store_only_an_argon2id_digest(backend: Backend) {
    use herald::accounts::password::Password;
    use herald::accounts::{AccountError, Email};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database_url(backend) else { return };
    // Run a command with `input` on its standard input (a pipe, as a script gives it).
    let run = |args: &[&str], input: &str| {
        let mut cmd = herald(dir.path());
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(url) = &url {
            cmd.env("HERALD_DATABASE_URL", url);
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let create = ["user", "create", "--email", "op@example.com", "--role", "operator", "--password-stdin"];
    // Too short: refused before anything is created.
    let (ok, text) = run(&create, "short\n");
    assert!(!ok && text.contains("at least 10"), "{text}");
    assert!(!text.contains("short\n"), "{text}");
    let (ok, text) = run(&create, "correct horse battery\n");
    assert!(ok, "{text}");
    assert!(text.contains("password set") && !text.contains("correct horse"), "never echoed: {text}");
    let (ok, text) =
        run(&["user", "password", "--email", "op@example.com", "--password-stdin"], "a new staple phrase\r\n");
    assert!(ok && !text.contains("staple"), "{text}");
    // Only from stdin; not for senders; not for unknown users.
    let (ok, text) = run(&["user", "password", "--email", "op@example.com"], "");
    assert!(!ok && text.contains("--password-stdin"), "{text}");
    let (ok, text) = run(
        &["user", "create", "--email", "app@example.com", "--role", "sender", "--password-stdin"],
        "long enough password",
    );
    assert!(!ok && text.contains("senders"), "{text}");
    let (ok, _) =
        run(&["user", "password", "--email", "nobody@example.com", "--password-stdin"], "long enough password");
    assert!(!ok);

    let config = Config {
        data_dir: dir.path().join("herald-data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url.map(Secret::new),
        ..Config::default()
    };
    let app = App::build(config).await.expect("build");
    let accounts = &app.state().accounts;
    let email = Email::parse("op@example.com").unwrap();
    let new = Password::candidate("a new staple phrase").unwrap();
    let user = accounts.check_password(&email, &new).await.expect("the new password signs in");
    assert_eq!(user.role.as_str(), "operator");
    for (email, password) in
        [("op@example.com", "correct horse battery"), ("nobody@example.com", "a new staple phrase")]
    {
        let email = Email::parse(email).unwrap();
        let refused = accounts.check_password(&email, &Password::candidate(password).unwrap()).await;
        assert!(matches!(refused, Err(AccountError::WrongPassword)), "{refused:?}");
    }
    let digest: Option<String> = herald::on_pool!(app.db(), |p| sqlx::query_scalar(
        "SELECT password_hash FROM user_account WHERE email = 'op@example.com'"
    )
    .fetch_one(p)
    .await
    .unwrap());
    let digest = digest.expect("a digest");
    assert!(digest.starts_with("$argon2id$") && !digest.contains("staple"), "{digest}");
    app.db().close().await;
}
