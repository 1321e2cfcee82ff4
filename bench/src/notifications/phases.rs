//! The three measured parts, each on a ready [`Rig`]: herald's rounds and,
//! alternating with them, the baseline's rounds on the same database.

use std::time::{Duration, Instant};

use super::results::{BaseRound, Baseline, CREATE_GOAL, LIST_GOAL, Results, Round};
use super::{Rig, Sizes, Store, TEXT_BODY, TEXT_TITLE, pg, sqlite};
use crate::cpu::{self, Usage};
use crate::http::{Client, Response};
use crate::load::{self, Plan, Request, Rng};

/// Concurrency of the throughput phases (and of pgbench).
pub const CLIENTS: usize = 32;
/// Concurrency of the latency phase: a moderately busy inbox.
pub const LATENCY_CLIENTS: usize = 4;
/// Not counted: connections open and herald's pool grows first.
pub const WARMUP: Duration = Duration::from_secs(2);
/// herald's page size for inbox lists.
const PAGE: u64 = 50;
/// Bound for one announcement request, which writes every member's row.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(600);

/// Part 1: POST /api/v1/notifications for random members.
pub fn create(rig: &Rig<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let members = rig.members;
    let admin = rig.admin.as_str();
    let make = |rng: &mut Rng| Request {
        method: "POST",
        path: "/api/v1/notifications".to_owned(),
        token: admin.to_owned(),
        body: Some(format!(
            r#"{{"user_id":{},"type":"message","title":"{TEXT_TITLE}","body":"{TEXT_BODY}"}}"#,
            rng.between(members.first, members.last)
        )),
        cookie: None,
    };
    check(rig, &make(&mut Rng::seeded(0)), 201)?;
    // herald's statement (the goal's baseline), and the same with the
    // realtime `pg_notify` in it, as herald ran it before announcements were
    // batched (for reading: it shows what a NOTIFY per write costs).
    let scripts =
        [("pgbench", pg::create_script(&members, false)), ("pgbench + pg_notify", pg::create_script(&members, true))];
    let mut ours = Vec::new();
    let mut theirs: Vec<Baseline> = Vec::new();
    for round in 1..=sizes.runs {
        ours.push(herald_round(rig, sizes, CLIENTS, 201, &make, &format!("create round {round}"))?);
        if let Store::Postgres(db) = &rig.store {
            for (i, (name, script)) in scripts.iter().enumerate() {
                let run = pgbench_round(rig, db, script, sizes, &format!("create round {round} ({name})"))?;
                match theirs.get_mut(i) {
                    Some(baseline) => baseline.rounds.push(run),
                    None => theirs.push(Baseline { name, rounds: vec![run] }),
                }
            }
        }
    }
    results.throughput("1", "create notification", rig.backend(), &ours, &theirs, Some(CREATE_GOAL));
    one_inbox(rig, sizes, results)
}

/// Part 1b: every client writes to the same member's inbox, which the
/// gapless cursor serializes by design (each insert waits for the one
/// before it to commit): what one hot inbox takes, against pgbench running
/// the same statement for that member. No goal; for the docs.
fn one_inbox(rig: &Rig<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let member = rig.members.first;
    let admin = rig.admin.as_str();
    let make = |_: &mut Rng| Request {
        method: "POST",
        path: "/api/v1/notifications".to_owned(),
        token: admin.to_owned(),
        body: Some(format!(r#"{{"user_id":{member},"type":"message","title":"{TEXT_TITLE}","body":"{TEXT_BODY}"}}"#)),
        cookie: None,
    };
    let one = super::Members { first: member, last: member };
    let script = pg::create_script(&one, false);
    let mut ours = Vec::new();
    let mut theirs: Option<Baseline> = None;
    for round in 1..=sizes.runs {
        ours.push(herald_round(rig, sizes, CLIENTS, 201, &make, &format!("one inbox round {round}"))?);
        if let Store::Postgres(db) = &rig.store {
            let run = pgbench_round(rig, db, &script, sizes, &format!("one inbox round {round} (pgbench)"))?;
            theirs.get_or_insert_with(|| Baseline { name: "pgbench", rounds: Vec::new() }).rounds.push(run);
        }
    }
    results.throughput("1b", "create, one member's inbox", rig.backend(), &ours, theirs.as_slice(), None);
    Ok(())
}

/// Part 2: GET /api/v1/notifications?unread=true with random members' tokens;
/// throughput at [`CLIENTS`] against pgbench, then latency at [`LATENCY_CLIENTS`].
pub fn list(rig: &Rig<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let members = rig.members;
    let make = |rng: &mut Rng| Request {
        method: "GET",
        path: "/api/v1/notifications?unread=true".to_owned(),
        token: format!("bench-{}", rng.between(members.first, members.last)),
        body: None,
        cookie: None,
    };
    // Odd cursors are unread: a full page when there are enough of them.
    let unread = sizes.per_user - sizes.per_user / 2;
    let page = check(rig, &make(&mut Rng::seeded(0)), 200)?;
    let items = page.text().matches("\"cursor\":").count() as u64;
    if items != unread.min(PAGE) {
        return Err(format!("unread page has {items} items, expected {}: {}", unread.min(PAGE), page.text()));
    }
    let script = pg::list_script(&members);
    let mut ours = Vec::new();
    let mut theirs: Option<Baseline> = None;
    for round in 1..=sizes.runs {
        ours.push(herald_round(rig, sizes, CLIENTS, 200, &make, &format!("list round {round}"))?);
        if let Store::Postgres(db) = &rig.store {
            let run = pgbench_round(rig, db, &script, sizes, &format!("list round {round}"))?;
            theirs.get_or_insert_with(|| Baseline { name: "pgbench", rounds: Vec::new() }).rounds.push(run);
        }
    }
    results.throughput("2", "unread list", rig.backend(), &ours, theirs.as_slice(), Some(LIST_GOAL));
    let mut quiet = Vec::new();
    for round in 1..=sizes.runs {
        quiet.push(herald_round(rig, sizes, LATENCY_CLIENTS, 200, &make, &format!("list latency round {round}"))?);
    }
    results.latency("2", "unread list", rig.backend(), &quiet);
    Ok(())
}

/// Part 3: one announcement to role member, timed end to end, alternating
/// with the same SQL run directly.
pub fn announce(rig: &Rig<'_>, sizes: &Sizes, results: &mut Results) -> Result<(), String> {
    let expected = rig.members.count();
    let body =
        format!(r#"{{"audience":{{"role":"member"}},"type":"system","title":"{TEXT_TITLE}","body":"{TEXT_BODY}"}}"#);
    let (mut ours, mut usage, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=sizes.runs {
        let mut client =
            Client::connect(rig.herald.addr(), ANNOUNCE_TIMEOUT).map_err(|e| rig.herald.failure(&e.to_string()))?;
        let before = cpu::snapshot(Some(rig.herald.pid()), rig.postmaster);
        let started = Instant::now();
        let response = client
            .send("POST", "/api/v1/announcements", Some(&rig.admin), Some(&body))
            .map_err(|e| rig.herald.failure(&format!("announcement: {e}")))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        usage.push(Usage::between(&before, &cpu::snapshot(Some(rig.herald.pid()), rig.postmaster)));
        let recipients = json_number(&response.text(), "recipients") == Some(expected);
        if response.status != 201 || !recipients {
            let why = format!(
                "announcement answered HTTP {} {}, expected 201 with {expected} recipients",
                response.status,
                response.text()
            );
            return Err(rig.herald.failure(&why));
        }
        let baseline = match &rig.store {
            Store::Postgres(db) => db.announce_directly(expected, rig.scratch.path())?,
            Store::Sqlite(file) => sqlite::announce_directly(file, expected)?,
        };
        eprintln!("  announcement round {round}/{}: herald {ms:.0} ms, direct SQL {baseline:.0} ms", sizes.runs);
        ours.push(ms);
        direct.push(baseline);
    }
    results.announce(rig.backend(), expected, &ours, &usage, &direct);
    Ok(())
}

/// The unsigned number after `"key":` in a flat JSON object (all this needs).
fn json_number(json: &str, key: &str) -> Option<u64> {
    let (_, rest) = json.split_once(&format!("\"{key}\":"))?;
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One request outside the measurement: the load would otherwise count a
/// wrong seed or a broken route as thousands of errors.
fn check(rig: &Rig<'_>, request: &Request, expect: u16) -> Result<Response, String> {
    let mut client = Client::connect(rig.herald.addr(), Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let response = client
        .send(request.method, &request.path, Some(&request.token), request.body.as_deref())
        .map_err(|e| rig.herald.failure(&format!("{} {}: {e}", request.method, request.path)))?;
    if response.status != expect {
        let why = format!("{} {} answered {} {}", request.method, request.path, response.status, response.text());
        return Err(rig.herald.failure(&why));
    }
    Ok(response)
}

fn herald_round(
    rig: &Rig<'_>,
    sizes: &Sizes,
    clients: usize,
    expect: u16,
    make: &(dyn Fn(&mut Rng) -> Request + Sync),
    label: &str,
) -> Result<Round, String> {
    let plan = Plan { addr: rig.herald.addr(), clients, warmup: WARMUP, duration: sizes.duration, expect };
    let before = cpu::snapshot(Some(rig.herald.pid()), rig.postmaster);
    let outcome = load::run(&plan, make);
    let usage = Usage::between(&before, &cpu::snapshot(Some(rig.herald.pid()), rig.postmaster));
    eprintln!(
        "  {} {label}, herald {clients} clients: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        rig.backend(),
        outcome.per_second(),
        outcome.percentile_ms(0.5),
        outcome.percentile_ms(0.99),
        outcome.errors
    );
    Ok(Round { outcome, usage })
}

fn pgbench_round(
    rig: &Rig<'_>,
    db: &pg::PgDb<'_>,
    script: &str,
    sizes: &Sizes,
    label: &str,
) -> Result<BaseRound, String> {
    let before = cpu::snapshot(Some(rig.herald.pid()), rig.postmaster);
    let run = db.pgbench(script, CLIENTS, sizes.duration, rig.scratch.path())?;
    let usage = Usage::between(&before, &cpu::snapshot(Some(rig.herald.pid()), rig.postmaster));
    eprintln!("  postgres {label}, pgbench {CLIENTS} clients: {:.0} tps, {} failed", run.tps, run.failed);
    Ok(BaseRound { tps: run.tps, failed: run.failed, usage })
}

#[cfg(test)]
mod tests {
    use super::json_number;

    #[test]
    fn reads_flat_json_numbers() {
        assert_eq!(json_number(r#"{"id":7,"recipients":10000}"#, "recipients"), Some(10_000));
        assert_eq!(json_number(r#"{"id": 7}"#, "id"), Some(7));
        assert_eq!(json_number(r#"{"id":"x"}"#, "id"), None);
        assert_eq!(json_number("{}", "id"), None);
    }
}
