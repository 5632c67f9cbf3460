//! The `process_*` metrics every Prometheus client exports (CPU time,
//! memory, file descriptors, start time), read from /proc at each scrape
//! and written as exposition text: `process_cpu_seconds_total` is a
//! counter of fractional seconds, which the `metrics` crate's integer
//! counters cannot hold. Where /proc is missing, nothing is written.

use std::fmt::Write as _;

/// The process metrics, as exposition text (empty without /proc).
pub(super) fn render() -> String {
    let mut out = String::new();
    let Some(stat) = Stat::read() else {
        return out;
    };
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.cpu_seconds,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        stat.resident_bytes,
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.virtual_bytes,
    );
    if let Some(start) = stat.start_time_seconds {
        metric(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            start,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metric(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        metric(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    out
}

/// What /proc/self/stat says, in base units.
struct Stat {
    cpu_seconds: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
    start_time_seconds: Option<f64>,
}

impl Stat {
    fn read() -> Option<Stat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name, in parentheses, may hold spaces: count fields
        // after its closing one, from field 3 (state) on.
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let Constants { ticks, page, boot } = *Constants::get();
        Some(Stat {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page,
            start_time_seconds: boot.zip(field(22)).map(|(b, t)| b + t / ticks),
        })
    }
}

/// What does not change while the process runs, read at the first scrape
/// rather than at each: /proc/stat grows with the machine's cores.
#[derive(Clone, Copy)]
struct Constants {
    ticks: f64,
    page: f64,
    boot: Option<f64>,
}

impl Constants {
    fn get() -> &'static Constants {
        static CONSTANTS: std::sync::OnceLock<Constants> = std::sync::OnceLock::new();
        CONSTANTS.get_or_init(|| {
            // SAFETY: sysconf reads a system constant; no memory is involved.
            let (ticks, page) = unsafe {
                (
                    libc::sysconf(libc::_SC_CLK_TCK) as f64,
                    libc::sysconf(libc::_SC_PAGESIZE) as f64,
                )
            };
            Constants {
                ticks,
                page,
                boot: boot_time(),
            }
        })
    }
}

/// When the machine booted (Unix time), from /proc/stat's `btime`.
fn boot_time() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

/// The soft limit of open files, from /proc/self/limits.
fn max_fds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_metrics_are_read_from_proc() {
        let text = super::render();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .parse()
                .unwrap();
            assert!(value >= 0.0, "{name} {value}");
        }
    }
}
