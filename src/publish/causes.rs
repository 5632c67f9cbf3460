//! Why agents were left unpublished, and what fixes it, said once per
//! cause: the status page and the run's report list the agents under it,
//! each with its own message.

use crate::domain::lifecycle::UnpublishedKind;

/// The cause, as a heading.
pub fn cause(kind: UnpublishedKind) -> &'static str {
    match kind {
        UnpublishedKind::Refused => "Refused by the platform",
        UnpublishedKind::UnknownAgent => "Unknown to the platform",
        UnpublishedKind::SwapMismatch => "A decided trade and the plan disagree",
        UnpublishedKind::DeadlinePassed => "Trade still pending at the deferral deadline",
        UnpublishedKind::NotConfirmed => "Not confirmed as published",
    }
}

/// What a person does about it; running the target again is said after.
pub fn fix(kind: UnpublishedKind) -> &'static str {
    match kind {
        UnpublishedKind::Refused => {
            "The platform refused these agents' weeks; each agent's message says why. \
             Correct the week in the source file (or the agent on the platform), then run the target again."
        }
        UnpublishedKind::UnknownAgent => {
            "The platform has no agent with these ids. Check them against the platform's roster: \
             create the missing agents there, or correct the ids in the source file (a typo, or the wrong \
             id column), then run the target again."
        }
        UnpublishedKind::SwapMismatch => {
            "A shift trade the platform decided does not match these agents' weeks in the source file. \
             Correct the source file to the traded weeks (or have the trade reviewed on the platform), \
             then run the target again."
        }
        UnpublishedKind::DeadlinePassed => {
            "Their shift trade was still pending when the deferral deadline passed. \
             Approve or deny the trade on the platform, then run the target again."
        }
        UnpublishedKind::NotConfirmed => {
            "The platform accepted the publish but did not list these agents as published. \
             Run the target again; if they stay unconfirmed, ask the platform's support, giving the run's time."
        }
    }
}
