//! The PostgreSQL cluster a scenario measures against: PostgreSQL's default
//! durability (fsync, synchronous_commit and full_page_writes on), as
//! production runs it, unless `--unsafe-fast` asks for the test suite's
//! setting (fsync off), whose figures are labelled as not counting for goals.

use testkit::PgCluster;

use crate::Options;

/// A started cluster and the line that says what it was, read back from
/// the server itself rather than from what was asked for.
pub struct Cluster {
    pub pg: PgCluster,
    /// e.g. "PostgreSQL 15.18, throwaway local cluster, durable (fsync on,
    /// synchronous_commit on, full_page_writes on)".
    pub described: String,
}

/// Start the cluster the options ask for.
pub fn start(options: &Options) -> Result<Cluster, String> {
    let settings: &[(&str, &str)] = if options.unsafe_fast { &[] } else { testkit::DURABLE };
    eprintln!(
        "starting a throwaway PostgreSQL cluster ({})...",
        if options.unsafe_fast { "fsync off, --unsafe-fast" } else { "default durability" }
    );
    let pg = PgCluster::start_with(settings)?;
    let show = |name: &str| pg.psql("postgres", &format!("SHOW {name}")).unwrap_or_else(|_| "?".to_owned());
    let (version, fsync, commit, pages) =
        (show("server_version"), show("fsync"), show("synchronous_commit"), show("full_page_writes"));
    let durable = fsync == "on" && commit == "on" && pages == "on";
    let verdict = if durable {
        "durable".to_owned()
    } else {
        "NOT durable (--unsafe-fast): these PostgreSQL figures do not count for goals".to_owned()
    };
    let described = format!(
        "PostgreSQL {version}, throwaway local cluster on {}, {verdict} (fsync {fsync}, synchronous_commit {commit}, \
         full_page_writes {pages})",
        filesystem()
    );
    Ok(Cluster { pg, described })
}

/// The file system the cluster's directory is on: a tmpfs would make fsync
/// free and a "durable" figure meaningless, so the report says.
fn filesystem() -> String {
    let dir = std::env::temp_dir();
    crate::proc::command_output("stat", &["-f", "-c", "%T", &dir.display().to_string()])
        .map(|fs| format!("{} ({fs})", dir.display()))
        .unwrap_or_else(|| dir.display().to_string())
}
