//! `sim --write-sources DIR`: the week's source file of each schedule a
//! scenario serves, as an operator's export would drop it in the inbox, so
//! that a publisher can be tried against the simulator without writing one.
//!
//! The simple contract's schedules hold only a roster: their weeks are the
//! sample pattern (`crate::sample`), which the scenarios' swaps are written
//! against (agent number n of the roster: odd ones Monday to Friday
//! 08:00–16:00, even ones Tuesday to Saturday 12:00–20:00). A Genesys Cloud
//! schedule holds its agents' shifts: the file is those, with the activity
//! codes' names. Each file is `DIR/SCHEDULE_ID.csv`, times local to the
//! schedule's zone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::genesys;
use super::AnyScenario;
use crate::sample;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    path: PathBuf,
    source: std::io::Error,
}

/// Writes every schedule's file into `dir` (created if missing); returns
/// the paths written.
pub fn write(scenario: &AnyScenario, dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = match scenario {
        AnyScenario::Simple(s) => simple_files(s),
        AnyScenario::Genesys(g) => genesys_files(g),
    };
    let mut written = Vec::new();
    for (schedule, csv) in files {
        let path = dir.join(format!("{schedule}.csv"));
        std::fs::write(&path, csv).map_err(|source| WriteError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Each schedule's id and its week as CSV.
fn simple_files(scenario: &super::Scenario) -> Vec<(String, String)> {
    scenario
        .schedules
        .iter()
        .map(|s| {
            let mut csv = String::from(sample::CSV_HEADER);
            for (i, agent) in s.roster().iter().enumerate() {
                sample::csv_rows(&mut csv, agent, i + 1, s.week_start);
            }
            (s.id.clone(), csv)
        })
        .collect()
}

fn genesys_files(scenario: &genesys::Scenario) -> Vec<(String, String)> {
    let zone = |bu: &str| {
        scenario
            .business_units
            .iter()
            .find(|b| b.id == bu)
            .map_or(Tz::UTC, |b| b.time_zone)
    };
    let activity = |id: &str| {
        scenario
            .activity_codes
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_owned(), |c| c.name.clone())
    };
    genesys::model::initial_schedules(scenario, Utc::now())
        .into_iter()
        .map(|schedule| {
            let tz = zone(&schedule.bu);
            let mut csv = String::from(sample::CSV_HEADER);
            for (user, agent) in &schedule.agents {
                for shift in &agent.shifts {
                    let code = shift
                        .activities
                        .first()
                        .map_or_else(String::new, |a| activity(&a.activity_code_id));
                    let (start, end) = (local(shift.start_date, tz), local(shift.end(), tz));
                    let _ = writeln!(
                        csv,
                        "{user},{},{},{},{code}",
                        start.format("%Y-%m-%d"),
                        start.format("%H:%M"),
                        end.format("%H:%M")
                    );
                }
            }
            (schedule.id, csv)
        })
        .collect()
}

fn local(at: DateTime<Utc>, tz: Tz) -> chrono::NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}
