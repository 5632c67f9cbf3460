//! An agent's lifecycle within one run: its states, the events that move
//! it, and the one function that says where an event leads. Nothing else
//! decides a state; the ledger applies what this returns and the store
//! keeps the values.
//!
//! ```text
//!            Unchanged                     Published
//!   Planned ───────────────────────────▶ Published ◀──────── Written
//!     │  ▲ ╲ Written                                            ▲ │
//!     │  │  ╲────────────────────────────────────────────────────╯ │
//!     │  │ Released / Replanned                                  │ Held
//!     │  │                                                       ▼
//!     │  └──────────────────────────── Deferred ◀────────────────┘
//!     │ Held                              ▲  │ DeadlinePassed
//!     └───────────────────────────────────┘  ▼
//!   Planned | Written | Deferred ──Refused──▶ Unpublished(reason)
//!   any state ──Replanned{changed}──▶ Planned   (a trade changed the week)
//! ```

use std::fmt;

use chrono::{DateTime, Utc};

use super::{AgentId, SwapId};

/// Why an agent's week was left unpublished. The report, the webhook and
/// `/status` match on this, never on the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnpublishedKind {
    /// The platform refused this agent's week (invalid, a 403 that is
    /// neither a scope, an organization nor a swap).
    Refused,
    /// The platform does not know the agent (the simple contract's 404):
    /// counted by the engine, since many of them mean the wrong schedule
    /// or the wrong id column rather than a few agents to fix.
    UnknownAgent,
    /// A resolved swap and the plan disagree: never guessed.
    SwapMismatch,
    /// Still waiting for a swap when the deferral deadline passed.
    DeadlinePassed,
    /// The platform accepted a publish but did not list the agent.
    NotConfirmed,
}

text_enum!(UnpublishedKind {
    Refused => "refused",
    UnknownAgent => "unknown_agent",
    SwapMismatch => "swap_mismatch",
    DeadlinePassed => "deadline_passed",
    NotConfirmed => "not_confirmed",
});

/// The typed reason plus the one line, with the fix, that people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub kind: UnpublishedKind,
    pub detail: String,
    /// The swap the reason is about, when it is about one: the report lists
    /// the agents of a cause with their swaps, the fix said once
    /// ([`crate::publish::causes`]).
    pub swap_id: Option<SwapId>,
}

impl Unpublished {
    pub fn new(kind: UnpublishedKind, detail: impl Into<String>) -> Self {
        Unpublished {
            kind,
            detail: detail.into(),
            swap_id: None,
        }
    }

    /// The agent's own part of the reason: which swap, and when the
    /// deadline was. What to do about it is the cause's, said once.
    pub fn deadline_passed(swap_id: &SwapId, deadline: DateTime<Utc>) -> Self {
        let echoed = crate::echo::echo(swap_id);
        Unpublished {
            swap_id: Some(swap_id.clone()),
            ..Unpublished::new(
                UnpublishedKind::DeadlinePassed,
                format!("swap {echoed} still pending at the deferral deadline {deadline}"),
            )
        }
    }

    pub fn not_confirmed() -> Self {
        Unpublished::new(
            UnpublishedKind::NotConfirmed,
            "the platform accepted the publish but did not list this agent as published",
        )
    }
}

impl fmt::Display for Unpublished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// To be written.
    Planned,
    /// Written, to be published.
    Written,
    /// Waiting for a pending shift swap to be decided.
    Deferred {
        swap_id: SwapId,
    },
    Published,
    Unpublished(Unpublished),
}

/// A state without its data, for counting and indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    Planned,
    Written,
    Deferred,
    Published,
    Unpublished,
}

impl StateKind {
    /// Every kind, in the lifecycle's order: the status page counts each.
    pub const ALL: [StateKind; 5] = [
        StateKind::Planned,
        StateKind::Written,
        StateKind::Deferred,
        StateKind::Published,
        StateKind::Unpublished,
    ];
}

text_enum!(StateKind {
    Planned => "planned",
    Written => "written",
    Deferred => "deferred",
    Published => "published",
    Unpublished => "unpublished",
});

impl AgentState {
    pub fn kind(&self) -> StateKind {
        match self {
            AgentState::Planned => StateKind::Planned,
            AgentState::Written => StateKind::Written,
            AgentState::Deferred { .. } => StateKind::Deferred,
            AgentState::Published => StateKind::Published,
            AgentState::Unpublished(_) => StateKind::Unpublished,
        }
    }
}

/// What can happen to an agent's week during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An earlier run published this very content: nothing to send.
    Unchanged,
    /// The platform accepted the week.
    Written,
    /// A pending swap holds the agent.
    Held { swap_id: SwapId },
    /// The platform published the week.
    Published,
    /// The swap the agent waited for is gone without a decision that
    /// changes anything: the original week stands.
    Released,
    /// A decided swap set the agent's week; `changed` when it differs from
    /// the week the agent had.
    Replanned { changed: bool },
    /// The platform refused the agent, or the plan cannot be trusted.
    Refused(Unpublished),
    /// The deferral deadline passed while the agent still waited.
    DeadlinePassed { deadline: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent {agent}: event {event:?} cannot happen in state {state:?}")]
pub struct IllegalTransition {
    pub agent: AgentId,
    pub state: AgentState,
    pub event: Event,
}

/// The one transition function.
pub fn transition(
    agent: &AgentId,
    state: &AgentState,
    event: &Event,
) -> Result<AgentState, Box<IllegalTransition>> {
    use AgentState as S;
    use Event as E;
    let next = match (state, event) {
        (S::Planned, E::Unchanged) => S::Published,
        (S::Planned, E::Written) => S::Written,
        (S::Planned | S::Written, E::Held { swap_id }) => S::Deferred {
            swap_id: swap_id.clone(),
        },
        (S::Written, E::Published) => S::Published,
        (S::Deferred { .. }, E::Released) => S::Planned,
        // A week that changed is written again whatever happened to the
        // old one; an agent that waited is written now that it may be.
        (_, E::Replanned { changed: true }) | (S::Deferred { .. }, E::Replanned { .. }) => {
            S::Planned
        }
        (s, E::Replanned { changed: false }) => s.clone(),
        (S::Planned | S::Written | S::Deferred { .. }, E::Refused(why)) => {
            S::Unpublished(why.clone())
        }
        // A trade that contradicts the plan makes even a published week
        // wrong: it is reported as unpublished, never guessed.
        (S::Published | S::Unpublished(_), E::Refused(why))
            if why.kind == UnpublishedKind::SwapMismatch =>
        {
            S::Unpublished(why.clone())
        }
        (S::Deferred { swap_id }, E::DeadlinePassed { deadline }) => {
            S::Unpublished(Unpublished::deadline_passed(swap_id, *deadline))
        }
        _ => {
            return Err(Box::new(IllegalTransition {
                agent: agent.clone(),
                state: state.clone(),
                event: event.clone(),
            }))
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Event {
        Event::Held {
            swap_id: "sw-1".into(),
        }
    }

    fn deferred() -> AgentState {
        AgentState::Deferred {
            swap_id: "sw-1".into(),
        }
    }

    #[test]
    fn the_ordinary_path_and_the_deferred_one() {
        let s = transition(&"a".into(), &AgentState::Planned, &Event::Written).unwrap();
        assert_eq!(s, AgentState::Written);
        assert_eq!(
            transition(&"a".into(), &s, &Event::Published).unwrap(),
            AgentState::Published
        );
        let d = transition(&"a".into(), &AgentState::Written, &held()).unwrap();
        assert_eq!(d, deferred());
        assert_eq!(
            transition(&"a".into(), &d, &Event::Replanned { changed: false }).unwrap(),
            AgentState::Planned
        );
        assert_eq!(
            transition(&"a".into(), &d, &Event::Released).unwrap(),
            AgentState::Planned
        );
    }

    #[test]
    fn a_trade_replans_only_a_changed_week_or_a_waiting_agent() {
        let same = Event::Replanned { changed: false };
        let changed = Event::Replanned { changed: true };
        assert_eq!(
            transition(&"a".into(), &AgentState::Published, &same).unwrap(),
            AgentState::Published
        );
        assert_eq!(
            transition(&"a".into(), &AgentState::Published, &changed).unwrap(),
            AgentState::Planned
        );
    }

    #[test]
    fn the_deadline_leaves_a_waiting_agent_unpublished_with_its_kind() {
        let deadline = "2026-11-29T06:00:00Z".parse().unwrap();
        let s = transition(
            &"a".into(),
            &deferred(),
            &Event::DeadlinePassed { deadline },
        )
        .unwrap();
        match s {
            AgentState::Unpublished(u) => {
                assert_eq!(u.kind, UnpublishedKind::DeadlinePassed);
                assert!(u.detail.contains("sw-1"), "{}", u.detail);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn impossible_events_are_refused_not_absorbed() {
        for (state, event) in [
            (AgentState::Planned, Event::Published),
            (AgentState::Published, Event::Written),
            (AgentState::Published, held()),
            (AgentState::Written, Event::Released),
            (
                AgentState::Planned,
                Event::DeadlinePassed {
                    deadline: Utc::now(),
                },
            ),
            (
                AgentState::Unpublished(Unpublished::not_confirmed()),
                Event::Written,
            ),
        ] {
            assert!(
                transition(&"a".into(), &state, &event).is_err(),
                "{state:?} {event:?}"
            );
        }
    }
}
