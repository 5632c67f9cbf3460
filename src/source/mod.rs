//! A target's week, read from its source file: times local to the target's
//! zone, converted to UTC, and validated as a whole before anything is sent.

mod csv;
mod json;
mod local_time;
mod validate;
pub mod wait;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::config::{DstPolicy, SourceFormat, TargetSettings};
use crate::plan::AgentWeek;

pub use local_time::to_utc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekPlan {
    pub week_start: NaiveDate,
    pub source: PathBuf,
    /// Hex SHA-256 of the file's bytes.
    pub source_hash: String,
    /// Every agent's whole week.
    pub agents: BTreeMap<String, AgentWeek>,
    /// Where each agent and each activity first appears, for a platform
    /// that refuses one of them to say `FILE:LINE`.
    pub lines: SourceLines,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceLines {
    pub agents: BTreeMap<String, Option<usize>>,
    pub activities: BTreeMap<String, Option<usize>>,
}

impl SourceLines {
    fn of(parsed: &Parsed) -> Self {
        let mut lines = SourceLines::default();
        for (agent, line) in &parsed.agents {
            lines.agents.entry(agent.clone()).or_insert(*line);
        }
        for row in &parsed.rows {
            lines.agents.entry(row.agent.clone()).or_insert(row.line);
            lines
                .activities
                .entry(row.activity.clone())
                .or_insert(row.line);
        }
        lines
    }
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
#[derive(Debug, Clone)]
struct Row {
    line: Option<usize>,
    /// Where in a JSON file, e.g. `agents[3].shifts[1]`; empty for CSV.
    place: String,
    agent: String,
    date: String,
    start: String,
    end: String,
    activity: String,
}

/// What a file says, before checking: its shifts, and (JSON) the agents it
/// lists, which may have no shifts at all.
#[derive(Debug, Default)]
struct Parsed {
    rows: Vec<Row>,
    agents: Vec<(String, Option<usize>)>,
}

/// Reads `target`'s file for the week starting on `week_start`.
pub fn load_week(target: &TargetSettings, week_start: NaiveDate) -> Result<WeekPlan, SourceError> {
    let path = target.source.path_for(week_start);
    if let Some(message) = not_a_plain_file(&path, target) {
        return Err(SourceError::new(vec![SourceProblem {
            file: path,
            line: None,
            message,
        }]));
    }
    let bytes = std::fs::read(&path).map_err(|e| SourceError {
        problems: vec![SourceProblem {
            file: path.clone(),
            line: None,
            message: match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "the week's source file does not exist: put it there, or fix targets.{}.source",
                    target.name
                ),
                _ if passes(&e) => format!(
                    "cannot read the week's source file now ({e}): the machine is short of a resource; the run is tried again"
                ),
                _ => format!("cannot read the week's source file: {e}"),
            },
        }],
        transient: passes(&e),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        SourceError::new(vec![SourceProblem {
            file: path.clone(),
            line: None,
            message: format!("not UTF-8 text: {e}"),
        }])
    })?;
    parse_week(
        &text,
        &path,
        target.source.format,
        week_start,
        target.time_zone,
        target.dst,
        &target.name,
    )
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
    target: &str,
) -> Result<WeekPlan, SourceError> {
    let problem = |line: Option<usize>, message: String| SourceProblem {
        file: origin.to_path_buf(),
        line,
        message,
    };
    let parsed = match format {
        SourceFormat::Csv => csv::parse(text),
        SourceFormat::Json => json::parse(text),
    }
    .map_err(|problems| {
        SourceError::new(
            problems
                .into_iter()
                .map(|(line, m)| problem(line, m))
                .collect(),
        )
    })?;
    let agents = validate::week(&parsed, week_start, tz, dst, target).map_err(|problems| {
        SourceError::new(
            problems
                .into_iter()
                .map(|(line, m)| problem(line, m))
                .collect(),
        )
    })?;
    let lines = SourceLines::of(&parsed);
    Ok(WeekPlan {
        lines,
        week_start,
        source: origin.to_path_buf(),
        source_hash: hex::encode(Sha256::digest(text.as_bytes())),
        agents,
    })
}
