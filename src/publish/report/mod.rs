//! The report every run ends with: who was published, who waited for a
//! swap and what it did, who was left unpublished (grouped by cause, the
//! fix said once), how far a stopped run got and the command that resumes
//! it, and how long the run took.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::api::stats::StatsSnapshot;
use crate::capped::Capped;
use crate::changes::grouped::PlanChanges;
use crate::config::TargetSettings;
use crate::domain::lifecycle::UnpublishedKind;
use crate::domain::{AgentId, ScheduleId, SwapId};
use crate::preflight::RefusalKind;
use crate::source::wait::Waited;
use crate::store::Outcome;

mod causes;
mod render;

pub use causes::Cause;

/// An agent the run left unpublished, with the kind of reason (matched by
/// the webhook and alerts) and the line people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnpublishedAgent {
    pub agent_id: AgentId,
    /// None: read from a report of an earlier release, which listed the
    /// agents a stopped run had not reached here.
    pub kind: Option<UnpublishedKind>,
    pub reason: String,
    /// The swap the reason is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_id: Option<SwapId>,
}

/// How a run ended, as the report says it: the store's outcome, told apart
/// where one outcome covers several ends (a run the store keeps `running`
/// was stopped, or left its deferred agents waiting), and a dry run, which
/// has no outcome since it records nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    NotStarted,
    Success,
    Partial,
    Refused,
    Failed,
    Superseded,
    /// Stopped (Ctrl-C, SIGTERM, the daemon's shutdown) before its end:
    /// what was sent is recorded, the next run resumes the rest.
    Stopped,
    /// Ended with agents waiting for pending swaps, not waited for
    /// (`--no-wait`): the next run resumes them.
    WaitingForSwaps,
    DryRun,
}

text_enum!(RunEnd {
    NotStarted => "not_started",
    Success => "success",
    Partial => "partial",
    Refused => "refused",
    Failed => "failed",
    Superseded => "superseded",
    Stopped => "stopped",
    WaitingForSwaps => "waiting_for_swaps",
    DryRun => "dry_run",
});

impl RunEnd {
    /// What the report's first line says.
    pub fn describe(self) -> &'static str {
        match self {
            RunEnd::NotStarted => "not started",
            RunEnd::Success => "success",
            RunEnd::Partial => "partial: agents left unpublished",
            RunEnd::Refused => "refused",
            RunEnd::Failed => "failed; resumable",
            RunEnd::Superseded => "superseded",
            RunEnd::Stopped => "stopped before its end; resumable",
            RunEnd::WaitingForSwaps => "agents left waiting for swaps; resumable",
            RunEnd::DryRun => "dry run (nothing sent)",
        }
    }

    /// Whether the next run of the target and week picks this one up.
    pub fn resumable(self) -> bool {
        matches!(
            self,
            RunEnd::Failed | RunEnd::Stopped | RunEnd::WaitingForSwaps
        )
    }
}

/// An agent with a line about it: what its swap did, or which swap it
/// waits for. In the JSON form, `[agent, note]` as it always was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNote {
    pub agent: AgentId,
    pub note: String,
}

impl Serialize for AgentNote {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.agent, &self.note).serialize(s)
    }
}

/// Lists are capped ([`crate::capped`]): each shows its first fifty items
/// and knows how many there were; the JSON form says it in `*_total`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: String,
    pub week_start: Option<NaiveDate>,
    pub schedule_id: ScheduleId,
    pub dry_run: bool,
    /// The store's outcome of the run; None for a dry run (nothing recorded).
    pub outcome: Option<Outcome>,
    /// The run was stopped (a signal, the daemon's shutdown) before its end.
    pub interrupted: bool,
    pub agents: usize,
    /// Published without waiting.
    pub published: usize,
    /// A dry run: the agents a run would write and publish.
    pub to_publish: usize,
    /// Already published with the same content by an earlier run: not sent again.
    pub unchanged: usize,
    /// A resumed run: agents an earlier attempt of it had already published
    /// (counted in `published` and `deferred_then_published`, not in its rate).
    pub published_earlier: usize,
    /// A stopped run: written to the platform, not yet published.
    pub written: usize,
    /// A stopped run: nothing sent for them yet.
    pub not_reached: usize,
    /// Waited for a swap, then published, with what the swap did.
    pub deferred_then_published: Capped<AgentNote>,
    /// Left unpublished, with the reason.
    pub unpublished: Capped<UnpublishedAgent>,
    /// Every unpublished agent counted by cause (the list above is capped).
    pub causes: Vec<Cause>,
    /// Still waiting for a swap (a run that does not wait, or a dry run).
    pub still_deferred: Capped<AgentNote>,
    /// Why the run was refused or stopped.
    pub problems: Capped<String>,
    /// Which check refused it, when it was refused.
    pub refused: Option<RefusalKind>,
    /// The wait for a source file that was not there when the run started.
    pub source_wait: Option<Waited>,
    pub client: StatsSnapshot,
    /// The target's zone: the report's times are said in it.
    pub time_zone: Option<Tz>,
    /// When agents still waiting for a swap are given up.
    pub deferral_deadline: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The configuration the run read, for the command that runs it again;
    /// None where the daemon runs it again by itself.
    pub config: Option<PathBuf>,
    /// A dry run's plan: what publishing would change on the platform.
    pub changes: Option<PlanChanges>,
}

impl Report {
    /// A report of `target`'s week before anything happened.
    pub fn for_week(target: &TargetSettings, week: NaiveDate, dry_run: bool) -> Report {
        Report {
            target: target.name.to_string(),
            week_start: Some(week),
            schedule_id: target.schedule_id_for(week).into(),
            dry_run,
            time_zone: Some(target.time_zone),
            deferral_deadline: Some(super::deferral_deadline(target, week)),
            ..Report::default()
        }
    }

    /// A run stopped (shutdown) while it waited for its source file at
    /// `path`: nothing was read, sent or recorded.
    pub fn stopped_waiting(target: &TargetSettings, week: NaiveDate, path: &Path) -> Report {
        let mut report = Report::for_week(target, week, false);
        let path = path.display();
        report
            .problems
            .push(format!("stopped while waiting for {path}"));
        report
    }

    /// How the run ended.
    pub fn end(&self) -> RunEnd {
        match self.outcome {
            _ if self.dry_run && self.outcome != Some(Outcome::Refused) => RunEnd::DryRun,
            None => RunEnd::NotStarted,
            Some(Outcome::Success) => RunEnd::Success,
            Some(Outcome::Partial) => RunEnd::Partial,
            Some(Outcome::Refused) => RunEnd::Refused,
            Some(Outcome::Failed) => RunEnd::Failed,
            Some(Outcome::Superseded) => RunEnd::Superseded,
            Some(Outcome::Running) if self.interrupted => RunEnd::Stopped,
            Some(Outcome::Running) if !self.still_deferred.is_empty() => RunEnd::WaitingForSwaps,
            Some(Outcome::Running) => RunEnd::Stopped,
        }
    }

    /// Whether the run waited for its source file until the deadline, in vain.
    pub fn source_never_arrived(&self) -> bool {
        self.source_wait
            .as_ref()
            .is_some_and(|w| w.arrived.is_none())
    }

    /// Whether an agent was left unpublished because its swap was still
    /// pending at the deferral deadline.
    pub fn deadline_passed(&self) -> bool {
        let kind = Some(UnpublishedKind::DeadlinePassed);
        self.causes.iter().any(|c| Some(c.kind) == kind)
            || self.unpublished.iter().any(|u| u.kind == kind)
    }

    /// Records an agent left unpublished: listed (capped) and counted by cause.
    pub fn push_unpublished(&mut self, agent: UnpublishedAgent) {
        if let Some(kind) = agent.kind {
            causes::count(&mut self.causes, kind);
        }
        self.unpublished.push(agent);
    }

    /// How long the run took, once it ended.
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        let (start, end) = (self.started_at?, self.finished_at?);
        (end - start).to_std().ok()
    }

    /// Agents published by this attempt (waiting for a swap or not) per
    /// second of it; None before it ended or when it took no time. A
    /// resumed run's earlier attempts published theirs in time not counted
    /// here.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.elapsed()?.as_secs_f64();
        let sent = (self.published + self.deferred_then_published.len())
            .saturating_sub(self.published_earlier);
        (secs >= 1.0 && sent > 0).then(|| sent as f64 / secs)
    }

    pub fn exit_code(&self) -> u8 {
        use crate::exit;
        match self.outcome {
            Some(Outcome::Success) => exit::SUCCESS,
            Some(Outcome::Refused) => exit::REFUSED,
            Some(Outcome::Failed) => exit::FAILED,
            _ if self.dry_run && self.problems.is_empty() => exit::SUCCESS,
            _ if self.dry_run => exit::REFUSED,
            _ => exit::PARTIAL,
        }
    }

    /// A dry run's code for `--detailed-exitcode`: changes or none.
    pub fn plan_exit_code(&self) -> u8 {
        match self.changes.as_ref().is_some_and(PlanChanges::has_changes) {
            true => crate::exit::CHANGES,
            false => crate::exit::SUCCESS,
        }
    }

    pub fn render(&self) -> String {
        render::render(self)
    }
}

/// Every field as it is, each capped list beside its count in all. Fields
/// are added, never renamed: scripts read this.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Report", 34)?;
        s.serialize_field("target", &self.target)?;
        s.serialize_field("week_start", &self.week_start)?;
        s.serialize_field("schedule_id", &self.schedule_id)?;
        s.serialize_field("dry_run", &self.dry_run)?;
        s.serialize_field("outcome", &self.outcome)?;
        s.serialize_field("end", &self.end())?;
        s.serialize_field("resumable", &self.end().resumable())?;
        s.serialize_field("agents", &self.agents)?;
        s.serialize_field("published", &self.published)?;
        s.serialize_field("to_publish", &self.to_publish)?;
        s.serialize_field("unchanged", &self.unchanged)?;
        s.serialize_field("written", &self.written)?;
        s.serialize_field("not_reached", &self.not_reached)?;
        s.serialize_field("deferred_then_published", &self.deferred_then_published)?;
        s.serialize_field(
            "deferred_then_published_total",
            &self.deferred_then_published.len(),
        )?;
        s.serialize_field("unpublished", &self.unpublished)?;
        s.serialize_field("unpublished_total", &self.unpublished.len())?;
        s.serialize_field("unpublished_causes", &self.causes)?;
        s.serialize_field("still_deferred", &self.still_deferred)?;
        s.serialize_field("still_deferred_total", &self.still_deferred.len())?;
        s.serialize_field("problems", &self.problems)?;
        s.serialize_field("problems_total", &self.problems.len())?;
        s.serialize_field("refused", &self.refused)?;
        s.serialize_field("source_wait", &self.source_wait)?;
        s.serialize_field("client", &self.client)?;
        s.serialize_field("changes", &self.changes)?;
        s.serialize_field("time_zone", &self.time_zone)?;
        s.serialize_field("deferral_deadline", &self.deferral_deadline)?;
        s.serialize_field("started_at", &self.started_at)?;
        s.serialize_field("finished_at", &self.finished_at)?;
        s.serialize_field("elapsed_secs", &self.elapsed().map(|d| d.as_secs_f64()))?;
        s.serialize_field("published_earlier", &self.published_earlier)?;
        s.serialize_field("agents_per_second", &self.rate())?;
        s.end()
    }
}

#[cfg(test)]
mod tests;
