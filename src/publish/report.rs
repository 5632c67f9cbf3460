//! The report every run ends with: who was published, who waited for a
//! swap and what it did, and who was left unpublished and why.

use std::path::Path;

use chrono::NaiveDate;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::lifecycle::UnpublishedKind;
use crate::api::stats::StatsSnapshot;
use crate::capped::Capped;
use crate::changes::grouped::PlanChanges;
use crate::config::TargetSettings;
use crate::domain::AgentId;
use crate::echo::push_line;
use crate::preflight::RefusalKind;
use crate::source::wait::Waited;
use crate::store::Outcome;

/// An agent the run left unpublished, with the kind of reason (matched by
/// the webhook and alerts) and the line people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnpublishedAgent {
    pub agent_id: AgentId,
    /// None: the run stopped before the agent was published; the next run
    /// resumes it.
    pub kind: Option<UnpublishedKind>,
    pub reason: String,
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
    pub schedule_id: String,
    pub dry_run: bool,
    pub outcome: Option<Outcome>,
    pub agents: usize,
    /// Published without waiting.
    pub published: usize,
    /// Already published with the same content by an earlier run: not sent again.
    pub unchanged: usize,
    /// Waited for a swap, then published, with what the swap did.
    pub deferred_then_published: Capped<AgentNote>,
    /// Left unpublished, with the reason.
    pub unpublished: Capped<UnpublishedAgent>,
    /// Still waiting for a swap (a run that does not wait, or a dry run).
    pub still_deferred: Capped<AgentNote>,
    /// Why the run was refused or stopped.
    pub problems: Capped<String>,
    /// Which check refused it, when it was refused.
    pub refused: Option<RefusalKind>,
    /// The wait for a source file that was not there when the run started.
    pub source_wait: Option<Waited>,
    pub client: StatsSnapshot,
    /// A dry run's plan: what publishing would change on the platform.
    pub changes: Option<PlanChanges>,
}

impl Report {
    /// A report of `target`'s week before anything happened.
    pub fn for_week(target: &TargetSettings, week: NaiveDate, dry_run: bool) -> Report {
        Report {
            target: target.name.to_string(),
            week_start: Some(week),
            schedule_id: target.schedule_id_for(week),
            dry_run,
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

    /// Whether the run waited for its source file until the deadline, in vain.
    pub fn source_never_arrived(&self) -> bool {
        self.source_wait
            .as_ref()
            .is_some_and(|w| w.arrived.is_none())
    }

    /// Whether an agent was left unpublished because its swap was still
    /// pending at the deferral deadline.
    pub fn deadline_passed(&self) -> bool {
        self.unpublished
            .iter()
            .any(|u| u.kind == Some(UnpublishedKind::DeadlinePassed))
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
        let mut out = String::new();
        let week = self
            .week_start
            .map(|w| w.to_string())
            .unwrap_or_else(|| "?".into());
        let outcome = match (self.dry_run, self.outcome) {
            (true, _) => "dry run (nothing sent)".to_owned(),
            (false, Some(o)) => o.to_string(),
            (false, None) => "not started".to_owned(),
        };
        push_line(
            &mut out,
            &format!(
                "target {}, week {week}, schedule {}: {outcome}",
                self.target, self.schedule_id
            ),
        );
        for p in self.problems.iter() {
            push_line(&mut out, &format!("  problem: {p}"));
        }
        more(&mut out, &self.problems, "problems");
        if let Some(w) = &self.source_wait {
            let end = w.arrived.map_or_else(
                || format!("it did not arrive by {}", w.deadline),
                |at| format!("it arrived at {at}"),
            );
            let path = w.path.display();
            push_line(
                &mut out,
                &format!("  waited for {path} from {}: {end}", w.since),
            );
        }
        if self.agents > 0 {
            let verb = if self.dry_run {
                "to publish"
            } else {
                "published"
            };
            push_line(&mut out, &format!("  {} agents: {} {verb}, {} unchanged since an earlier run, {} deferred then published, {} unpublished, {} still deferred",
                self.agents,
                self.published,
                self.unchanged,
                self.deferred_then_published.len(),
                self.unpublished.len(),
                self.still_deferred.len()
            ));
        }
        self.changes.iter().for_each(|c| c.render(&mut out));
        for AgentNote { agent: a, note } in self.deferred_then_published.iter() {
            push_line(
                &mut out,
                &format!("  deferred, then published: {a}: {note}"),
            );
        }
        more(
            &mut out,
            &self.deferred_then_published,
            "deferred, then published",
        );
        for AgentNote {
            agent: a,
            note: why,
        } in self.still_deferred.iter()
        {
            push_line(&mut out, &format!("  deferred: {a}: {why}"));
        }
        more(&mut out, &self.still_deferred, "deferred");
        for u in self.unpublished.iter() {
            push_line(
                &mut out,
                &format!("  UNPUBLISHED: {}: {}", u.agent_id, u.reason),
            );
        }
        more(&mut out, &self.unpublished, "UNPUBLISHED");
        let c = &self.client;
        if c.requests > 0 {
            push_line(&mut out, &format!("  platform: {} requests, {} retries, {} rate-limited (429), {} masked 403s, {} lock waits, {} token requests",
                c.requests, c.retries, c.rate_limited, c.masked_rate_limited, c.locked, c.token_requests
            ));
        }
        out
    }
}

/// The "and N more" line under a capped list, indented like its items.
fn more<T>(out: &mut String, list: &Capped<T>, what: &str) {
    if let Some(more) = list.more_line(what) {
        push_line(out, &format!("  {more}"));
    }
}

/// Every field as it is, each capped list beside its count in all.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Report", 21)?;
        s.serialize_field("target", &self.target)?;
        s.serialize_field("week_start", &self.week_start)?;
        s.serialize_field("schedule_id", &self.schedule_id)?;
        s.serialize_field("dry_run", &self.dry_run)?;
        s.serialize_field("outcome", &self.outcome)?;
        s.serialize_field("agents", &self.agents)?;
        s.serialize_field("published", &self.published)?;
        s.serialize_field("unchanged", &self.unchanged)?;
        s.serialize_field("deferred_then_published", &self.deferred_then_published)?;
        s.serialize_field(
            "deferred_then_published_total",
            &self.deferred_then_published.len(),
        )?;
        s.serialize_field("unpublished", &self.unpublished)?;
        s.serialize_field("unpublished_total", &self.unpublished.len())?;
        s.serialize_field("still_deferred", &self.still_deferred)?;
        s.serialize_field("still_deferred_total", &self.still_deferred.len())?;
        s.serialize_field("problems", &self.problems)?;
        s.serialize_field("problems_total", &self.problems.len())?;
        s.serialize_field("refused", &self.refused)?;
        s.serialize_field("source_wait", &self.source_wait)?;
        s.serialize_field("client", &self.client)?;
        s.serialize_field("changes", &self.changes)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever a problem or a reason holds (an error message, a reason read
    /// back from the store), the rendered report forges no line of its own
    /// and holds no escape.
    #[test]
    fn no_part_of_a_report_starts_a_line_or_rewrites_the_terminal() {
        let forged = "HTTP 500\n  published: every agent; run ended outcome=success\u{1b}[2J";
        let mut report = Report {
            target: "chicago".into(),
            agents: 1,
            ..Report::default()
        };
        report.problems.push(forged.into());
        report.unpublished.push(UnpublishedAgent {
            agent_id: "a-1".into(),
            kind: None,
            reason: forged.into(),
        });
        report.deferred_then_published.push(AgentNote {
            agent: "a-2".into(),
            note: forged.into(),
        });
        let text = report.render();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("published:")),
            "{text}"
        );
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains(r"  problem: HTTP 500\n  published"), "{text}");
    }

    /// The named pairs keep the JSON form readers of the report parse.
    #[test]
    fn an_agent_note_is_still_an_agent_and_note_pair_in_json() {
        let note = AgentNote {
            agent: "a-2".into(),
            note: "waiting for shift swap \"s-1\"".into(),
        };
        assert_eq!(
            serde_json::to_value(&note).unwrap(),
            serde_json::json!(["a-2", "waiting for shift swap \"s-1\""])
        );
    }
}
