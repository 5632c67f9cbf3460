//! Under systemd, stderr is a stream into the journal. A line that starts
//! with `<N>` (sd-daemon(3)) gets priority N, which `journalctl -p` filters
//! on; without it every line is stored at the unit's default priority.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::Level;

/// Whether stderr is the journal's stream: systemd sets `JOURNAL_STREAM`
/// to the `device:inode` of the stream it gave the unit. A child whose
/// stderr was redirected elsewhere inherits the variable, not the stream,
/// hence the comparison.
pub(super) fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    // A copy of the descriptor: the `File` closes it when it drops.
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(stderr).metadata() else {
        return false;
    };
    names_stream(&value.to_string_lossy(), meta.dev(), meta.ino())
}

/// Whether `JOURNAL_STREAM`'s value names the stream (`dev`, `ino`).
fn names_stream(value: &str, dev: u64, ino: u64) -> bool {
    let parsed = value
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)));
    parsed == Some((dev, ino))
}

/// The syslog priority prefix of a level: err, warning, info, debug.
pub(super) fn priority(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        _ => "<7>",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_streams_own_device_and_inode_match() {
        assert!(names_stream("8:1234", 8, 1234));
        assert!(!names_stream("8:1234", 8, 1235));
        assert!(!names_stream("", 8, 1234));
        assert!(!names_stream("8", 8, 1234));
        assert!(!names_stream("x:1234", 8, 1234));
    }

    #[test]
    fn each_level_has_its_syslog_priority() {
        assert_eq!(priority(&Level::ERROR), "<3>");
        assert_eq!(priority(&Level::WARN), "<4>");
        assert_eq!(priority(&Level::INFO), "<6>");
        assert_eq!(priority(&Level::DEBUG), "<7>");
    }
}
