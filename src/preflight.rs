//! What must hold before a target's week is sent, in one wording for both
//! `check` (which shows it as rows) and `publish` (which refuses with it).

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::api::PlatformError;
use crate::capped::Capped;
use crate::config::TargetSettings;
use crate::domain::{ScheduleId, TargetName};
use crate::source::{self, SourceError, WeekPlan};

/// How a schedule on the platform can disagree with the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The schedule's week starts on another day.
    Week {
        target: TargetName,
        found: NaiveDate,
        expected: NaiveDate,
    },
    /// The platform keeps the schedule in another zone: the source file's
    /// local times would be misread.
    Zone {
        target: TargetName,
        found: String,
        expected: String,
    },
    /// The schedule belongs to another organization than the token.
    Organization { found: String, token: String },
    /// Genesys Cloud: no business unit of that id or name.
    BusinessUnit {
        target: TargetName,
        name: String,
        known: String,
    },
    /// Genesys Cloud: the business unit's weeks start on another day.
    StartDay {
        target: TargetName,
        found: String,
        expected: NaiveDate,
    },
    /// Genesys Cloud: the configured schedule is not one of the week's.
    NoSchedule { target: TargetName, week: NaiveDate },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Week { target, found, expected } => write!(
                f,
                "its week starts {found} but the run is for {expected}: fix targets.{target}.schedule_id or targets.{target}.week_start_day"
            ),
            Mismatch::Zone { target, found, expected } => write!(
                f,
                "the platform keeps it in {} but targets.{target}.time_zone is {expected}: the source file's local times would be misread; make them agree",
                crate::echo::echo(found)
            ),
            Mismatch::Organization { found, token } => write!(
                f,
                "it belongs to organization {found} but the token is of {}: use an OAuth client of {found}",
                crate::echo::echo(token),
                found = crate::echo::echo(found)
            ),
            Mismatch::BusinessUnit { target, name, known } => write!(
                f,
                "no business unit {} that this OAuth client can see (it sees: {}): fix targets.{target}.business_unit, or grant the client's role a division holding it",
                crate::echo::echo(name),
                crate::echo::echo_message(known)
            ),
            Mismatch::StartDay { target, found, expected } => write!(
                f,
                "its weeks start on {} but the run's week starts {expected} ({}): set targets.{target}.week_start_day to the business unit's",
                crate::echo::echo(found),
                expected.format("%A")
            ),
            Mismatch::NoSchedule { target, week } => write!(
                f,
                "the business unit has no such schedule in the week of {week}: fix targets.{target}.schedule_id, or remove it to use the target's schedule_description"
            ),
        }
    }
}

/// The schedule as the platform describes it, in the terms the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFacts {
    pub id: String,
    pub org_id: String,
    pub week_start: NaiveDate,
    pub time_zone: String,
    pub state: ScheduleState,
}

/// Where a schedule stands. The simple contract says draft or published;
/// another implementation may say more, which is neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleState {
    Draft,
    Published,
    Other,
}

impl std::fmt::Display for ScheduleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScheduleState::Draft => "draft",
            ScheduleState::Published => "published",
            ScheduleState::Other => "in a state the contract does not name",
        })
    }
}

/// Every way `facts` disagree with `target`'s week `week` (and, when known,
/// the token's organization).
pub fn mismatches(
    facts: &ScheduleFacts,
    target: &TargetSettings,
    week: NaiveDate,
    token_org: Option<&str>,
) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(token) = token_org.filter(|t| *t != facts.org_id) {
        found.push(Mismatch::Organization {
            found: facts.org_id.clone(),
            token: token.to_owned(),
        });
    }
    if facts.week_start != week {
        found.push(Mismatch::Week {
            target: target.name.clone(),
            found: facts.week_start,
            expected: week,
        });
    }
    if facts.time_zone != target.time_zone.name() {
        found.push(Mismatch::Zone {
            target: target.name.clone(),
            found: facts.time_zone.clone(),
            expected: target.time_zone.name().to_owned(),
        });
    }
    found
}

/// Why a run is refused before anything is sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Source(SourceError),
    #[error("{0}")]
    Platform(PlatformError),
    #[error("schedule {schedule_id}: {}", .mismatches.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; "))]
    Schedule {
        /// The schedule looked at, or the business unit it was looked for in.
        schedule_id: String,
        mismatches: Vec<Mismatch>,
    },
    /// Found while writing, not before: too many of the run's writes
    /// answered that the platform does not know the agent.
    #[error("schedule {schedule_id}: the platform does not know {unknown} of the {answered} agents written so far (first: {}): the source file's agent_id column holds other ids, or targets.{target}.schedule_id names another schedule; the run stopped writing and publishes nothing more", .first.join(", "))]
    UnknownAgents {
        target: TargetName,
        schedule_id: ScheduleId,
        unknown: usize,
        answered: usize,
        /// The first few ids, quoted as input.
        first: Vec<String>,
    },
    /// The platform shows the week published, and the store has no record
    /// of publishing it: a new, moved or emptied store would otherwise
    /// start over and write the source file over what is there, approved
    /// shift trades included.
    #[error("schedule {schedule_id} is already published on the platform, but the state store has no record of publishing target {target}'s week of {week} (a new, moved or emptied store?): nothing was sent, so that the source file does not overwrite what is there, approved shift trades included. If this store is to take the week over, run `wfm-publisher publish --config FILE --target {target} --week {week} --adopt` (with the daemon stopped: it holds the store's run lock); it applies the approved trades before writing")]
    Unrecorded {
        schedule_id: ScheduleId,
        target: TargetName,
        week: NaiveDate,
    },
}

/// Which check refused a run, for whoever acts on the refusal (the daemon
/// waits for a corrected source file; it does not retry a platform's no).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    Source,
    Platform,
    Schedule,
    /// Published already, unknown to the store: `publish --adopt` takes it over.
    AlreadyPublished,
}

impl Refusal {
    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::Source(_) => RefusalKind::Source,
            Refusal::Platform(_) => RefusalKind::Platform,
            Refusal::Schedule { .. } => RefusalKind::Schedule,
            // Most often the wrong id column: a corrected file is the fix.
            Refusal::UnknownAgents { .. } => RefusalKind::Source,
            Refusal::Unrecorded { .. } => RefusalKind::AlreadyPublished,
        }
    }

    /// Not a refusal but a failure that passes (the platform unreachable
    /// or failing, the machine short of a resource): the run ends failed
    /// and is tried again. Only configuration and input problems refuse.
    pub fn is_transient(&self) -> bool {
        match self {
            Refusal::Source(e) => e.transient,
            Refusal::Platform(e) => e.is_transient(),
            Refusal::Schedule { .. }
            | Refusal::Unrecorded { .. }
            | Refusal::UnknownAgents { .. } => false,
        }
    }

    /// One line per problem, for reports and the state store: the first
    /// fifty, and how many in all.
    pub fn problems(&self) -> Capped<String> {
        match self {
            Refusal::Source(e) => e.problems.iter().map(|p| p.to_string()).collect(),
            other => std::iter::once(other.to_string()).collect(),
        }
    }
}

impl From<PlatformError> for Refusal {
    fn from(e: PlatformError) -> Self {
        Refusal::Platform(e)
    }
}

/// The week's source file, read and validated exactly as a run reads it.
pub fn source(target: &TargetSettings, week: NaiveDate) -> Result<WeekPlan, Refusal> {
    source::load_week(target, week).map_err(Refusal::Source)
}

/// A week whose swap cut-off (its deferral deadline, `deferral.deadline`
/// before it starts) has passed: a swap still pending is not waited for,
/// and its agents are reported unpublished at once, even when the platform
/// approves the swap a moment later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutoffPassed {
    pub target: TargetName,
    pub week: NaiveDate,
    pub at: DateTime<Utc>,
    pub time_zone: Tz,
    /// The first week whose cut-off is still ahead.
    pub next: NaiveDate,
}

impl fmt::Display for CutoffPassed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.with_timezone(&self.time_zone);
        write!(
            f,
            "the swap cut-off of week {} passed at {} (targets.{}.deferral.deadline before the week starts): \
             an agent with a pending shift swap is reported unpublished at once, not waited for; \
             to wait for swaps, publish week {} (--week {}) or lower targets.{}.deferral.deadline",
            self.week,
            at.format("%Y-%m-%d %H:%M %Z"),
            self.target,
            self.next,
            self.next,
            self.target
        )
    }
}

/// Whether `week`'s swap cut-off is behind `now`: said by `check` and
/// before `publish` sends anything, so that a partial week is expected.
pub fn cutoff_passed(
    target: &TargetSettings,
    week: NaiveDate,
    now: DateTime<Utc>,
) -> Option<CutoffPassed> {
    let at = crate::publish::deferral_deadline(target, week);
    (at <= now).then(|| CutoffPassed {
        target: target.name.clone(),
        week,
        at,
        time_zone: target.time_zone,
        next: crate::domain::week::first_week_with_cutoff_ahead(
            now,
            target.time_zone,
            target.week_start_day,
            TimeDelta::from_std(target.deferral.deadline).unwrap_or(TimeDelta::zero()),
        ),
    })
}
