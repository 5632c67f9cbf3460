//! The payloads docs/OPERATION.md shows are the ones sent: the same keys,
//! down to the entries of a list, with values of the same JSON types.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::{run_body, source_body, SourceEvent};
use crate::capped::Capped;
use crate::domain::lifecycle::UnpublishedKind;
use crate::publish::{Report, UnpublishedAgent};
use crate::source::wait::Waited;
use crate::store::Outcome;

/// The JSON block docs/OPERATION.md marks `<!-- webhook: EVENT ... -->`.
fn documented(event: &str) -> Value {
    let doc = include_str!("../../../docs/OPERATION.md");
    let marker = format!("<!-- webhook: {event},");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("no {marker}"))..];
    let block = after.split("```json\n").nth(1).unwrap();
    let json = &block[..block.find("```").unwrap()];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{event}: {e}"))
}

/// Keys and JSON types alike, arrays by their first entry; `null` stands
/// for any type (an absent value).
fn same_shape(documented: &Value, sent: &Value, at: &str) {
    match (documented, sent) {
        (Value::Object(d), Value::Object(s)) => {
            let dk: Vec<_> = d.keys().collect();
            let sk: Vec<_> = s.keys().collect();
            assert_eq!(dk, sk, "{at}: documented keys, sent keys");
            for (k, v) in d {
                same_shape(v, &s[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(d), Value::Array(s)) => {
            if let (Some(d), Some(s)) = (d.first(), s.first()) {
                same_shape(d, s, &format!("{at}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (d, s) => assert_eq!(
            std::mem::discriminant(d),
            std::mem::discriminant(s),
            "{at}: documented {d}, sent {s}"
        ),
    }
}

#[test]
fn the_documented_run_ended_payload_is_the_one_sent() {
    let mut unpublished = Capped::default();
    unpublished.push(UnpublishedAgent {
        agent_id: "a-7".into(),
        kind: Some(UnpublishedKind::DeadlinePassed),
        reason: "swap \"sw-3\" still pending at the deferral deadline 2026-12-13 06:00:00 UTC"
            .into(),
        swap_id: Some("sw-3".into()),
    });
    let mut problems = Capped::default();
    problems.push("a problem".to_owned());
    let report = Report {
        target: "chicago".into(),
        schedule_id: "chi-2026-12-14".into(),
        outcome: Some(Outcome::Partial),
        unpublished,
        problems,
        ..Report::default()
    };
    let sent = run_body(&report, "2026-12-14");
    same_shape(&documented("run_ended"), &sent, "run_ended");
}

#[test]
fn the_documented_source_payloads_are_the_ones_sent() {
    let at = |h| Utc.with_ymd_and_hms(2026, 12, 10, h, 0, 0).unwrap();
    let waited = Waited {
        path: "/srv/wfm/inbox/chicago/2026-12-14.csv".into(),
        since: at(12),
        deadline: at(18),
        arrived: None,
    };
    let mut problems = Capped::default();
    problems.push("a problem".to_owned());
    for event in [SourceEvent::SourceLate, SourceEvent::SourceNeverArrived] {
        let sent = source_body(event, "chicago", "2026-12-14", &waited, &problems);
        same_shape(&documented("source_late"), &sent, &format!("{event:?}"));
    }
}
