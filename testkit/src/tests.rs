//! Self-test: a real cluster starts, answers SQL and disappears when dropped.

use super::{PgCluster, postgres_required};

/// Skips loudly when PostgreSQL is absent, unless CI demands it.
fn binaries_present() -> bool {
    let present = ["initdb", "postgres", "psql"].iter().all(|b| PgCluster::bin(b).is_some());
    if !present {
        assert!(!postgres_required(), "PostgreSQL binaries not found but CI demands them");
        eprintln!("!!! SKIPPED: PostgreSQL binaries (initdb, postgres, psql) not found !!!");
    }
    present
}

#[test]
fn cluster_starts_answers_and_cleans_up() {
    if !binaries_present() {
        return;
    }
    let cluster = PgCluster::start().expect("cluster should start");
    let dir = cluster.dir.clone();
    assert!(dir.join("data").is_dir());

    let url = cluster.create_database().expect("database should be created");
    let name = url.rsplit('/').next().expect("URL ends in a database name");
    assert!(url.starts_with(&format!("postgres://postgres@127.0.0.1:{}/t_", cluster.port())));
    assert_eq!(cluster.psql(name, "select 41+1").as_deref(), Ok("42"));
    assert!(cluster.psql(name, "select nonsense").is_err());

    drop(cluster);
    assert!(!dir.exists(), "{} should be removed on drop", dir.display());
}

#[test]
fn extra_settings_are_applied() {
    if !binaries_present() {
        return;
    }
    let cluster = PgCluster::start_with(&[("work_mem", "7MB")]).expect("cluster should start");
    assert_eq!(cluster.psql("postgres", "show work_mem").as_deref(), Ok("7MB"));
}

#[test]
fn shared_cluster_is_started_once() {
    if !binaries_present() {
        return;
    }
    let first = PgCluster::shared().expect("binaries are present");
    let second = PgCluster::shared().expect("binaries are present");
    assert_eq!(first.port(), second.port());
    assert!(first.admin_url().ends_with("/postgres"));
}

#[test]
fn failed_start_reports_the_server_log() {
    if !binaries_present() {
        return;
    }
    let err = PgCluster::start_with(&[("no_such_setting", "1")]).expect_err("bad setting");
    assert!(err.contains("no_such_setting"), "error should quote the log: {err}");
}
