//! Collecting the `notifications` figures and rendering them as Markdown:
//! one table of herald against its same-run baseline with the goals, one of
//! where the CPU went, and notes on anything that failed.

use super::Sizes;
use super::phases::{CLIENTS, LATENCY_CLIENTS, WARMUP};
use crate::cpu::Usage;
use crate::load::Outcome;
use crate::report::{Table, fmt0, mark};
use crate::stats::{Summary, summary};

/// Goals from the issue.
/// Goals for the throughput parts, each against the first baseline named.
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    /// herald's rate over the baseline's, at least.
    pub ratio: f64,
    /// herald's p99 in ms, below (the durability issue's create goal).
    pub p99_ms: Option<f64>,
}

/// The unread list (notifications issue): half of pgbench.
pub const LIST_GOAL: Goal = Goal { ratio: 0.5, p99_ms: None };
/// Create (durability issue): 60 % of pgbench's plain insert, p99 < 20 ms.
pub const CREATE_GOAL: Goal = Goal { ratio: 0.6, p99_ms: Some(20.0) };
const GOAL_P99_MS: f64 = 5.0;
const GOAL_ANNOUNCE_RATIO: f64 = 2.0;

/// One herald load round.
pub struct Round {
    pub outcome: Outcome,
    pub usage: Usage,
}

/// The rounds of one pgbench script, named as the report shows it.
pub struct Baseline {
    pub name: &'static str,
    pub rounds: Vec<BaseRound>,
}

/// One pgbench round.
pub struct BaseRound {
    pub tps: f64,
    pub failed: u64,
    pub usage: Usage,
}

pub struct Results {
    sizes: Sizes,
    /// Lines printed above the tables: binaries, versions, settings.
    pub context: Vec<String>,
    main: Table,
    cpu: Table,
    notes: Vec<String>,
}

impl Results {
    pub fn new(sizes: Sizes) -> Results {
        let main =
            Table::new(&["part", "backend", "herald", "baseline (same run)", "herald / baseline", "goal", "result"]);
        let cpu = Table::new(&["phase", "backend", "driver", "herald", "database server", "load generator", "other"]);
        Results { sizes, context: Vec::new(), main, cpu, notes: Vec::new() }
    }

    /// Part 1 or 2 at [`CLIENTS`]: requests/s against each baseline's tps,
    /// one row per baseline (none on SQLite).
    /// `goal`: checked against the first baseline only (the others are for
    /// reading); `None`: the part is measured for the record.
    pub fn throughput(
        &mut self,
        part: &str,
        what: &str,
        backend: &str,
        ours: &[Round],
        baselines: &[Baseline],
        goal: Option<Goal>,
    ) {
        let label = format!("{part}. {what}, {CLIENTS} clients");
        let rps = summary(ours.iter().map(|r| r.outcome.per_second()));
        let errors = self.errors(&label, backend, ours);
        let mut herald = format!(
            "{} req/s ({}); p50 {:.1} ms, p99 {:.1} ms; {errors} errors",
            fmt0(rps.median),
            range0(&rps),
            summary(ours.iter().map(|r| r.outcome.percentile_ms(0.5))).median,
            summary(ours.iter().map(|r| r.outcome.percentile_ms(0.99))).median,
        );
        self.cpu_rows(&label, backend, "herald", ours.iter().map(|r| r.usage));
        if baselines.is_empty() {
            self.main.row(vec![label, backend.into(), herald, "none".into(), "–".into(), "–".into(), "–".into()]);
            return;
        }
        let p99 = summary(ours.iter().map(|r| r.outcome.percentile_ms(0.99))).median;
        for (i, baseline) in baselines.iter().enumerate() {
            let tps = summary(baseline.rounds.iter().map(|r| r.tps));
            let failed: u64 = baseline.rounds.iter().map(|r| r.failed).sum();
            let ratio = rps.median / tps.median;
            let cell = format!("{} {} tps ({}); {failed} failed", baseline.name, fmt0(tps.median), range0(&tps));
            let (goal, verdict) = match goal.filter(|_| i == 0) {
                Some(g) => {
                    let pass = ratio >= g.ratio && errors == 0 && g.p99_ms.is_none_or(|limit| p99 < limit);
                    let text = match g.p99_ms {
                        Some(limit) => format!("≥ {:.0} %, p99 < {limit:.0} ms", g.ratio * 100.0),
                        None => format!("≥ {:.0} %", g.ratio * 100.0),
                    };
                    (text, mark(pass))
                }
                None => ("–".to_owned(), "–".to_owned()),
            };
            let ratio = format!("{:.1} %", ratio * 100.0);
            let herald = std::mem::replace(&mut herald, "(same herald rounds)".to_owned());
            self.main.row(vec![label.clone(), backend.into(), herald, cell, ratio, goal, verdict]);
            self.cpu_rows(&label, backend, baseline.name, baseline.rounds.iter().map(|r| r.usage));
        }
    }

    /// Part 2 at [`LATENCY_CLIENTS`]: an absolute p99 goal, no baseline.
    pub fn latency(&mut self, part: &str, what: &str, backend: &str, ours: &[Round]) {
        let label = format!("{part}. {what}, {LATENCY_CLIENTS} clients");
        let errors = self.errors(&label, backend, ours);
        let p99 = summary(ours.iter().map(|r| r.outcome.percentile_ms(0.99)));
        let herald = format!(
            "p99 {:.2} ms ({:.2}–{:.2}); p50 {:.2} ms; {} req/s; {errors} errors",
            p99.median,
            p99.min,
            p99.max,
            summary(ours.iter().map(|r| r.outcome.percentile_ms(0.5))).median,
            fmt0(summary(ours.iter().map(|r| r.outcome.per_second())).median),
        );
        let pass = p99.median < GOAL_P99_MS && errors == 0;
        let goal = format!("p99 < {GOAL_P99_MS:.0} ms");
        self.main.row(vec![label.clone(), backend.into(), herald, "–".into(), "–".into(), goal, mark(pass)]);
        self.cpu_rows(&label, backend, "herald", ours.iter().map(|r| r.usage));
    }

    /// Part 3: end-to-end announcement time against the direct SQL.
    pub fn announce(&mut self, backend: &str, recipients: u64, ours: &[f64], usage: &[Usage], direct: &[f64]) {
        let label = format!("3. announcement to {} members", fmt0(recipients as f64));
        let (ours_ms, direct_ms) = (summary(ours.iter().copied()), summary(direct.iter().copied()));
        let tool = if backend == "postgres" { "psql" } else { "python3 sqlite3" };
        let ratio = ours_ms.median / direct_ms.median;
        self.main.row(vec![
            label.clone(),
            backend.into(),
            format!("{} ms ({})", fmt0(ours_ms.median), range0(&ours_ms)),
            format!("{tool} {} ms ({})", fmt0(direct_ms.median), range0(&direct_ms)),
            format!("{ratio:.2}×"),
            format!("≤ {GOAL_ANNOUNCE_RATIO:.0}×"),
            mark(ratio <= GOAL_ANNOUNCE_RATIO),
        ]);
        self.cpu_rows(&label, backend, "herald", usage.iter().copied());
    }

    pub fn render(&self) -> String {
        let s = &self.sizes;
        let mut out = self.context.join("\n");
        out.push_str(&format!(
            "\n- sizes: part 1 {users} members; part 2 {users} members × {per} notifications ({total} rows, \
             half read) and a token each; part 3 {ann} members; {runs} round(s) per phase of {secs} s after {warm} \
             s warm-up (herald and baseline alternate); announcements {runs} time(s) each; medians with min–max\n\n",
            users = fmt0(s.users as f64),
            per = s.per_user,
            total = fmt0((s.users * s.per_user) as f64),
            ann = fmt0(s.announce_users as f64),
            runs = s.runs,
            secs = s.duration.as_secs(),
            warm = WARMUP.as_secs(),
        ));
        out.push_str(&self.main.render());
        out.push_str(
            "\nCPU, in % of one CPU (median over rounds; the machine has nproc × 100 %). \"load generator\" is \
             bench's client threads for herald rows and pgbench/psql for baseline rows; \"other\" is the rest of \
             the machine; SQLite runs inside herald.\n\n",
        );
        out.push_str(&self.cpu.render());
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n\n");
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }

    /// Total errors over the rounds; the first error message becomes a note.
    fn errors(&mut self, label: &str, backend: &str, rounds: &[Round]) -> u64 {
        let total = rounds.iter().map(|r| r.outcome.errors).sum();
        if let Some(first) = rounds.iter().find_map(|r| r.outcome.first_error.as_deref()) {
            self.notes.push(format!("{label} ({backend}): {total} errors; first: {first}"));
        }
        total
    }

    fn cpu_rows(&mut self, label: &str, backend: &str, driver: &str, usage: impl Iterator<Item = Usage>) {
        let usage: Vec<Usage> = usage.collect();
        let pct = |f: fn(&Usage) -> f64| format!("{:.0} %", summary(usage.iter().map(f)).median);
        self.cpu.row(vec![
            label.to_owned(),
            backend.to_owned(),
            driver.to_owned(),
            pct(|u| u.herald),
            if backend == "sqlite" { "(in herald)".to_owned() } else { pct(|u| u.database) },
            pct(|u| u.load),
            pct(|u| u.other),
        ]);
    }
}

fn range0(s: &Summary) -> String {
    format!("{}–{}", fmt0(s.min), fmt0(s.max))
}
