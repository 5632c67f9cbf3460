//! When the platform does not know the agents: one or two unknown ids are
//! agents to fix, but many of them mean the wrong schedule or the wrong id
//! column, and writing the rest one by one would only send thousands of
//! requests that each answer 404. The run stops, refused, once more than
//! [`SHARE_PERCENT`]% and at least [`AT_LEAST`] of its answered writes said
//! "unknown agent".

use crate::domain::lifecycle::UnpublishedKind;
use crate::domain::{AgentId, ScheduleId, TargetName};
use crate::echo::echo;
use crate::platform::WriteOutcome;
use crate::preflight::Refusal;

/// Unknown agents below this count never stop a run.
pub const AT_LEAST: usize = 20;
/// Share of the answered writes above which they do.
pub const SHARE_PERCENT: usize = 5;
/// Ids the refusal names.
const NAMED: usize = 5;

/// One run's count of write answers, kept across its write rounds.
#[derive(Debug, Default)]
pub struct UnknownAgents {
    answered: usize,
    unknown: usize,
    first: Vec<String>,
}

impl UnknownAgents {
    /// Counts `agent`'s write answer; the refusal once the run must stop.
    pub fn record(
        &mut self,
        agent: &AgentId,
        outcome: &WriteOutcome,
        target: &TargetName,
        schedule_id: &ScheduleId,
    ) -> Option<Refusal> {
        self.answered += 1;
        let WriteOutcome::Refused(why) = outcome else {
            return None;
        };
        if why.kind != UnpublishedKind::UnknownAgent {
            return None;
        }
        self.unknown += 1;
        if self.first.len() < NAMED {
            self.first.push(echo(agent).to_string());
        }
        let too_many =
            self.unknown >= AT_LEAST && self.unknown * 100 > self.answered * SHARE_PERCENT;
        too_many.then(|| Refusal::UnknownAgents {
            target: target.clone(),
            schedule_id: schedule_id.clone(),
            unknown: self.unknown,
            answered: self.answered,
            first: self.first.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::Unpublished;

    fn unknown() -> WriteOutcome {
        WriteOutcome::Refused(Unpublished::new(UnpublishedKind::UnknownAgent, "404"))
    }

    #[test]
    fn twenty_unknown_among_the_first_answers_stop_the_run() {
        let mut count = UnknownAgents::default();
        for i in 0..19 {
            assert!(count
                .record(
                    &format!("x-{i}").into(),
                    &unknown(),
                    &"t".parse().unwrap(),
                    &"s".into()
                )
                .is_none());
        }
        let refusal = count
            .record(
                &"x-19".into(),
                &unknown(),
                &"t".parse().unwrap(),
                &"s".into(),
            )
            .expect("stops");
        let text = refusal.to_string();
        assert!(text.contains("20 of the 20"), "{text}");
        assert!(text.contains("\"x-0\", \"x-1\""), "{text}");
        assert!(!text.contains("x-5"), "{text}");
    }

    #[test]
    fn a_few_unknown_among_many_do_not() {
        let mut count = UnknownAgents::default();
        for i in 0..1000 {
            let outcome = if i % 25 == 0 {
                unknown()
            } else {
                WriteOutcome::Written
            };
            assert!(
                count
                    .record(&"a".into(), &outcome, &"t".parse().unwrap(), &"s".into())
                    .is_none(),
                "at {i}"
            );
        }
        let refused = WriteOutcome::Refused(Unpublished::new(UnpublishedKind::Refused, "400"));
        for _ in 0..100 {
            assert!(count
                .record(&"a".into(), &refused, &"t".parse().unwrap(), &"s".into())
                .is_none());
        }
    }
}
