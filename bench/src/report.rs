//! Markdown output meant to be pasted into BENCHMARKS.md as is: a header
//! that says when, where and how the figures were taken, then tables.

use std::ffi::OsString;

use crate::proc::command_output;

/// Header lines: title with UTC date, machine summary and the exact command
/// line, so a pasted result can be reproduced and compared.
pub fn header(scenario: &str, args: &[OsString]) -> String {
    let date = command_output("date", &["-u", "+%Y-%m-%dT%H:%MZ"]).unwrap_or_else(|| "unknown date".to_owned());
    let command: Vec<String> = args.iter().map(shell_quote).collect();
    format!("## bench {scenario} — {date}\n\n- machine: {}\n- command: `{}`\n", machine(), command.join(" "))
}

/// "2 CPUs, 7.8 GiB RAM, Linux 6.1.0 x86_64", each part best effort.
fn machine() -> String {
    let cpus = command_output("nproc", &[]).unwrap_or_else(|| "?".to_owned());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
            line.split_whitespace().next()?.parse::<f64>().ok()
        })
        .map(|kib| format!("{:.1}", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".to_owned());
    let uname = command_output("uname", &["-srm"]).unwrap_or_else(|| "unknown OS".to_owned());
    format!("{cpus} CPUs, {mem_gib} GiB RAM, {uname}")
}

/// Shell-style rendering of an argument, quoted only when needed.
pub fn shell_quote(arg: &OsString) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain { text.into_owned() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

/// A Markdown table built row by row.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row; it should have one cell per header.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with a header separator; `|` in cells is escaped.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// "PASS" or "MISS" for a goal.
pub fn mark(pass: bool) -> String {
    if pass { "PASS" } else { "MISS" }.to_owned()
}

/// Whole number with space-separated thousands: 1 000 000.
pub fn fmt0(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if value < -0.5 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::{Table, fmt0, shell_quote};

    #[test]
    fn renders_markdown() {
        let mut table = Table::new(&["a", "b"]);
        table.row(vec!["1".into(), "x|y".into()]);
        assert_eq!(table.render(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote(&"--runs".into()), "--runs");
        assert_eq!(shell_quote(&"a b".into()), "'a b'");
        assert_eq!(shell_quote(&"it's".into()), r"'it'\''s'");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(fmt0(1_000_000.0), "1 000 000");
        assert_eq!(fmt0(999.4), "999");
        assert_eq!(fmt0(12_345.0), "12 345");
        assert_eq!(fmt0(0.0), "0");
    }
}
