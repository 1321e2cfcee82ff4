//! The process's resident memory and the limit it lives under: the cgroup
//! limit when there is one, else the configured limit, else the machine's
//! physical memory.

use super::sample::MemorySample;

/// Read RSS and the limit now. `configured_mb` is `performance.memory_limit_mb`.
pub fn read(configured_mb: Option<u64>) -> MemorySample {
    let rss = rss_bytes().unwrap_or(0);
    let (limit, source) = match (cgroup_limit(), configured_mb) {
        (Some(l), _) => (l, "cgroup"),
        (None, Some(mb)) => (mb.saturating_mul(1024 * 1024), "configured"),
        (None, None) => (physical_bytes().unwrap_or(0), "physical"),
    };
    let ratio = if limit > 0 { rss as f64 / limit as f64 } else { 0.0 };
    MemorySample { rss_bytes: rss, limit_bytes: limit, limit_source: source.into(), ratio }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:").map(|k| k * 1024)
}

fn physical_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&info, "MemTotal:").map(|k| k * 1024)
}

/// `Name:   1234 kB` → 1234.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)).and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`; `None` when
/// unlimited (v1 reports "unlimited" as a number near 2^63).
fn cgroup_limit() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    let raw = v2.or_else(v1)?;
    let limit: u64 = raw.trim().parse().ok()?;
    (limit < (1 << 60)).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let m = read(None);
        assert!(m.rss_bytes > 1024 * 1024, "{m:?}");
        assert!(m.limit_bytes > m.rss_bytes, "{m:?}");
        assert!(m.ratio > 0.0 && m.ratio < 1.0, "{m:?}");
        let configured = read(Some(64));
        if configured.limit_source == "configured" {
            assert_eq!(configured.limit_bytes, 64 * 1024 * 1024);
        }
    }

    #[test]
    fn parses_proc_fields() {
        assert_eq!(kib_field("VmPeak:\t  200 kB\nVmRSS:\t   1234 kB\n", "VmRSS:"), Some(1234));
        assert_eq!(kib_field("nothing", "VmRSS:"), None);
    }
}
