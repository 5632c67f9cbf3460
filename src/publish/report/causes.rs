//! The report's unpublished agents counted by cause: the text says each
//! cause and its fix once, above its agents; the JSON carries the counts,
//! which the capped list of agents cannot.

use serde::Serialize;

use crate::domain::lifecycle::UnpublishedKind;
use crate::publish::causes::{cause, fix};

/// One cause, how many agents it left unpublished, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub kind: UnpublishedKind,
    pub count: usize,
    pub cause: &'static str,
    pub fix: &'static str,
}

/// One more agent of `kind`, the causes kept in the order first met.
pub(super) fn count(causes: &mut Vec<Cause>, kind: UnpublishedKind) {
    match causes.iter_mut().find(|c| c.kind == kind) {
        Some(c) => c.count += 1,
        None => causes.push(Cause {
            kind,
            count: 1,
            cause: cause(kind),
            fix: fix(kind),
        }),
    }
}
