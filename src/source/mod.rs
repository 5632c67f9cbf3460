//! A target's week, read from its source file: times local to the target's
//! zone, converted to UTC, and validated as a whole before anything is sent.

mod csv;
mod json;
mod local_time;
mod validate;
pub mod wait;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::config::{DstPolicy, SourceFormat, TargetSettings};
use crate::domain::plan::AgentWeek;
use crate::domain::{AgentId, TargetName};
use validate::WeekBuilder;

pub use local_time::to_utc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekPlan {
    pub week_start: NaiveDate,
    pub source: PathBuf,
    /// Hex SHA-256 of the file's bytes.
    pub source_hash: String,
    /// Every agent's whole week.
    pub agents: BTreeMap<AgentId, AgentWeek>,
    /// Where each agent and each activity first appears, for a platform
    /// that refuses one of them to say `FILE:LINE`.
    pub lines: SourceLines,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceLines {
    pub agents: BTreeMap<AgentId, Option<usize>>,
    pub activities: BTreeMap<String, Option<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct SourceError {
    pub problems: Vec<SourceProblem>,
    /// The file could not be read for a cause that passes (too many open
    /// files, out of memory, a stale network handle): not the file's
    /// fault, worth reading again later.
    pub transient: bool,
}

impl SourceError {
    /// The file's own problems: a person has to fix them.
    pub fn new(problems: Vec<SourceProblem>) -> Self {
        SourceError {
            problems,
            transient: false,
        }
    }
}

/// Whether reading failed for a cause of the machine that passes, rather
/// than of the file or its path.
fn passes(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::Interrupted
            | K::WouldBlock
            | K::TimedOut
            | K::OutOfMemory
            | K::ResourceBusy
            | K::StaleNetworkFileHandle
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::capped::lines(&self.problems, "problems"))
    }
}

/// One shift as written in the file, before any checking.
#[derive(Debug, Clone, Copy)]
struct Row<'r> {
    line: Option<usize>,
    /// Where in a JSON file, e.g. `agents[3].shifts[1]: `; empty for CSV.
    place: &'r str,
    agent: &'r str,
    date: &'r str,
    start: &'r str,
    end: &'r str,
    activity: &'r str,
}

/// Reads `target`'s file for the week starting on `week_start`, a row at a
/// time: memory follows the week's plan, not the file's size.
pub fn load_week(target: &TargetSettings, week_start: NaiveDate) -> Result<WeekPlan, SourceError> {
    let path = target.source.path_for(week_start);
    let refuse = |message: String| {
        SourceError::new(vec![SourceProblem {
            file: path.clone(),
            line: None,
            message,
        }])
    };
    if let Some(message) = not_a_plain_file(&path, target) {
        return Err(refuse(message));
    }
    let file = open_plain(&path, target.follow_symlinks).map_err(|e| SourceError {
        transient: passes(&e),
        ..refuse(match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the week's source file does not exist: put it there, or fix targets.{}.source",
                target.name
            ),
            _ if e.raw_os_error() == Some(libc::ELOOP) => format!(
                "is a symbolic link: not read (it could point at any file the service can read); put the file itself there, or set targets.{}.follow_symlinks = true",
                target.name
            ),
            std::io::ErrorKind::InvalidInput => "is not a regular file: not read".to_owned(),
            _ if passes(&e) => format!(
                "cannot read the week's source file now ({e}): the machine is short of a resource; the run is tried again"
            ),
            _ => format!("cannot read the week's source file: {e}"),
        })
    })?;
    let limit = target.max_source_bytes;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limit {
        return Err(refuse(too_big(size, limit, &target.name)));
    }
    // The file may grow after it was measured: never more than the limit
    // is read, and a file found longer is refused all the same.
    let input = Tally::new(file.take(limit + 1));
    let read = Reading {
        origin: &path,
        format: target.source.format,
        week_start,
        tz: target.time_zone,
        dst: target.dst,
        target: &target.name,
    };
    let (result, bytes) = read.week(input);
    if bytes > limit {
        return Err(refuse(too_big(bytes, limit, &target.name)));
    }
    result
}

fn too_big(size: u64, limit: u64, target: &TargetName) -> String {
    format!(
        "is {size} bytes, over the limit of {limit} (targets.{target}.max_source_bytes): not read; raise targets.{target}.max_source_bytes if a week really is this large"
    )
}

/// A reader that hashes and counts every byte it passes on.
struct Tally<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> Tally<R> {
    fn new(inner: R) -> Self {
        Tally {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// One week's file, and how to read it.
struct Reading<'a> {
    origin: &'a Path,
    format: SourceFormat,
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &'a TargetName,
}

impl Reading<'_> {
    fn problem(&self, (line, message): (Option<usize>, String)) -> SourceProblem {
        SourceProblem {
            file: self.origin.to_path_buf(),
            line,
            message,
        }
    }

    /// Reads every row of `input` into a week, then the rest of `input`,
    /// so that the hash is the whole file's. Returns the week, and how many
    /// bytes were read.
    fn week<R: Read>(&self, input: Tally<R>) -> (Result<WeekPlan, SourceError>, u64) {
        let mut week = WeekBuilder::new(self.week_start, self.tz, self.dst, self.target);
        let mut input = match self.format {
            SourceFormat::Csv => csv::read(input, &mut week),
            SourceFormat::Json => json::read(BufReader::new(input), &mut week).into_inner(),
        };
        if let Err(e) = std::io::copy(&mut input, &mut std::io::sink()) {
            week.unreadable(None, format!("cannot read the week's source file: {e}"));
        }
        let result = match week.finish() {
            Ok((agents, lines)) => Ok(WeekPlan {
                lines,
                week_start: self.week_start,
                source: self.origin.to_path_buf(),
                source_hash: hex::encode(input.hasher.finalize()),
                agents,
            }),
            Err(problems) => Err(SourceError::new(
                problems.into_iter().map(|p| self.problem(p)).collect(),
            )),
        };
        (result, input.bytes)
    }
}

/// Opens `path` as a week's file, and only as one: what is checked is the
/// file opened, not the path before (a path swapped for a link to a FIFO
/// between a check and the open blocked a run for good). No link followed
/// unless `follow`; never blocking on a FIFO or a device; then the opened
/// descriptor must be a regular file (`InvalidInput` otherwise).
pub(crate) fn open_plain(path: &Path, follow: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Why `path` is not read as a week: a symbolic link (unless the target
/// follows them) or something other than a regular file. None when it is
/// one, or does not exist (which reading then says).
fn not_a_plain_file(path: &Path, target: &TargetSettings) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() && !target.follow_symlinks {
        return Some(format!(
            "is a symbolic link: not read (it could point at any file the service can read); put the file itself there, or set targets.{}.follow_symlinks = true",
            target.name
        ));
    }
    let meta = std::fs::metadata(path).ok()?;
    (!meta.is_file()).then(|| "is not a regular file: not read".to_owned())
}

/// Parses and checks a week from text; `origin` names the file in problems.
pub fn parse_week(
    text: &str,
    origin: &Path,
    format: SourceFormat,
    week_start: NaiveDate,
    tz: Tz,
    dst: DstPolicy,
    target: &TargetName,
) -> Result<WeekPlan, SourceError> {
    let read = Reading {
        origin,
        format,
        week_start,
        tz,
        dst,
        target,
    };
    read.week(Tally::new(text.as_bytes())).0
}

#[cfg(test)]
mod open_tests {
    use super::open_plain;

    /// Issue 27 item 11: what is opened is checked, without blocking: a
    /// FIFO (swapped in after any check of the path) is refused at once,
    /// and a link is not followed unless asked.
    #[test]
    fn only_a_regular_file_is_opened_and_a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("week.csv");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string and mode.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = open_plain(&fifo, true).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let plain = dir.path().join("plain.csv");
        std::fs::write(&plain, "agent_id\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&plain, &link).unwrap();
        assert_eq!(
            open_plain(&link, false).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert!(open_plain(&link, true).is_ok());
        assert!(open_plain(&plain, false).is_ok());
    }
}
