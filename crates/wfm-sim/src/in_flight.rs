//! What both simulators' gateways count of every call: how many are being
//! answered at once, and the most there ever were (the record's
//! `peak_concurrency`), and the path a call is recorded under.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;

/// Calls being answered now, and the most at once so far.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    /// Counts a call in until the returned guard is dropped.
    pub(crate) fn enter(&self) -> Entered<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Entered(self)
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One call counted in; dropping it counts the call out.
pub(crate) struct Entered<'a>(&'a InFlight);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The path and query a call is recorded under.
pub(crate) fn shown_path(request: &Request) -> String {
    request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_most_at_once_and_a_dropped_call_counts_out() {
        let calls = InFlight::default();
        let a = calls.enter();
        let b = calls.enter();
        drop(a);
        drop(b);
        let _c = calls.enter();
        assert_eq!(calls.peak(), 2);
        assert_eq!(calls.now.load(Ordering::SeqCst), 1);
    }
}
