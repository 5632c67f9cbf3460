use super::*;
use crate::domain::lifecycle::Unpublished;

fn chicago() -> Tz {
    "America/Chicago".parse().unwrap()
}

fn report(agents: usize) -> Report {
    Report {
        target: "chicago".into(),
        week_start: Some("2026-12-14".parse().unwrap()),
        schedule_id: "chi-2026-12-14".into(),
        agents,
        time_zone: Some(chicago()),
        deferral_deadline: Some("2026-12-13T00:00:00Z".parse().unwrap()),
        config: Some("/etc/wfm-publisher/config.toml".into()),
        ..Report::default()
    }
}

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
    report.push_unpublished(UnpublishedAgent {
        agent_id: "a-1".into(),
        kind: Some(UnpublishedKind::Refused),
        reason: forged.into(),
        swap_id: None,
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
    assert!(text.contains(r"  problem: HTTP 500\n  published"), "{text}");
    assert!(text.contains(r"    a-1: HTTP 500\n  published"), "{text}");
}

/// Sixty agents given up at the deadline: one heading with the count and
/// the deadline in the target's time, the fix once, the agents packed.
#[test]
fn unpublished_agents_are_grouped_by_cause_with_the_fix_said_once() {
    let mut r = report(2000);
    r.outcome = Some(Outcome::Partial);
    let deadline: DateTime<Utc> = "2026-12-13T00:00:00Z".parse().unwrap();
    for n in 0..60 {
        let why = Unpublished::deadline_passed(&format!("sw-{n:02}").into(), deadline);
        r.push_unpublished(UnpublishedAgent {
            agent_id: format!("a-{n:04}").into(),
            kind: Some(why.kind),
            reason: why.detail,
            swap_id: why.swap_id,
        });
    }
    let text = r.render();
    assert_eq!(text.matches("UNPUBLISHED").count(), 1, "{text}");
    assert!(
        text.contains(
            "  UNPUBLISHED 60: Trade still pending at the deferral deadline (Sat 2026-12-12 18:00 CST)"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("then run the target again").count(),
        1,
        "{text}"
    );
    assert!(text.contains("a-0000 (swap \"sw-00\")"), "{text}");
    assert!(
        text.contains("    and 10 more agents of this cause"),
        "{text}"
    );
    assert!(
        text.contains("not sent again):\n    wfm-publisher publish --config /etc/wfm-publisher/config.toml --target chicago --week 2026-12-14\n"),
        "{text}"
    );
    // Nothing wraps on the issue's 160-column terminal.
    assert!(text.lines().all(|l| l.chars().count() <= 160), "{text}");
    // Was ~220 rows on a 160-column terminal: an ERROR line and a
    // wrapping report line per agent.
    assert!(text.lines().count() <= 25, "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["unpublished_causes"][0]["kind"], "deadline_passed");
    assert_eq!(json["unpublished_causes"][0]["count"], 60);
    assert_eq!(json["unpublished_total"], 60);
    assert_eq!(json["unpublished"][0]["swap_id"], "sw-00");
}

/// Refusals each carry the platform's own words: one line per agent, under
/// the cause said once.
#[test]
fn refusals_keep_each_agents_message() {
    let mut r = report(3);
    r.outcome = Some(Outcome::Partial);
    for (a, why) in [("a-1", "shift overlaps"), ("a-2", "unknown activity")] {
        r.push_unpublished(UnpublishedAgent {
            agent_id: a.into(),
            kind: Some(UnpublishedKind::Refused),
            reason: why.into(),
            swap_id: None,
        });
    }
    let text = r.render();
    assert!(
        text.contains("  UNPUBLISHED 2: Refused by the platform\n"),
        "{text}"
    );
    assert!(
        text.contains("    a-1: shift overlaps\n    a-2: unknown activity\n"),
        "{text}"
    );
}

/// A run stopped by Ctrl-C: not "running", its unsent agents not called
/// unpublished, what was written counted, and the command that resumes it.
#[test]
fn a_stopped_run_says_how_far_it_got_and_how_to_resume() {
    let mut r = report(3000);
    r.outcome = Some(Outcome::Running);
    r.interrupted = true;
    r.published = 60;
    r.written = 367;
    r.not_reached = 2573;
    let text = r.render();
    assert!(
        text.starts_with("target chicago, week 2026-12-14, schedule chi-2026-12-14: stopped before its end; resumable\n"),
        "{text}"
    );
    assert!(text.contains("0 unpublished"), "{text}");
    assert!(
        text.contains("367 written but not yet published, 2573 not sent yet"),
        "{text}"
    );
    assert!(
        text.contains("  to resume (agents already published are not sent again):\n    wfm-publisher publish --config /etc/wfm-publisher/config.toml --target chicago --week 2026-12-14\n"),
        "{text}"
    );
    assert!(!text.contains("UNPUBLISHED"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["end"], "stopped");
    assert_eq!(json["resumable"], true);
    assert_eq!(json["written"], 367);
}

#[test]
fn the_report_says_how_long_the_run_took_and_how_fast() {
    let mut r = report(2000);
    r.outcome = Some(Outcome::Success);
    r.published = 2000;
    r.started_at = Some("2026-12-07T04:00:00Z".parse().unwrap());
    r.finished_at = Some("2026-12-07T04:02:13.500Z".parse().unwrap());
    let text = r.render();
    assert!(
        text.contains("  took 2m 13s, 15.0 agents published a second\n"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["elapsed_secs"], 133.5);
}

/// A resumed run's rate counts what this attempt published in its own
/// time: 498 agents published by the attempt a Ctrl-C stopped were shown
/// as 62.8 a second for a resumption that published 2 in 8 s.
#[test]
fn a_resumed_run_is_timed_on_what_it_published_itself() {
    let mut r = report(2000);
    r.outcome = Some(Outcome::Success);
    r.published = 1990;
    r.deferred_then_published.push(AgentNote {
        agent: "a-1".into(),
        note: "its swap resolved".into(),
    });
    r.published_earlier = 991;
    r.started_at = Some("2026-12-07T04:00:00Z".parse().unwrap());
    r.finished_at = Some("2026-12-07T04:01:40Z".parse().unwrap());
    let text = r.render();
    assert!(
        text.contains("  took 1m 40s since it resumed (991 published before), 10.0 agents published a second\n"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["agents_per_second"], 10.0);
    assert_eq!(json["published_earlier"], 991);
}

/// A swap denied, expired or canceled did the same to both its agents:
/// one line, not the same line twice; an approved one says what each gave
/// and took.
#[test]
fn a_swap_that_did_the_same_to_both_agents_is_one_line() {
    let mut r = report(4);
    r.outcome = Some(Outcome::Success);
    for (agent, note) in [
        ("a-1", "swap \"sw-1\" approved: gave Mon to a-2"),
        ("a-101", "swap \"sw-2\" denied: original week published"),
        ("a-102", "swap \"sw-2\" denied: original week published"),
        ("a-2", "swap \"sw-1\" approved: took Mon from a-1"),
    ] {
        r.deferred_then_published.push(AgentNote {
            agent: agent.into(),
            note: note.into(),
        });
    }
    let text = r.render();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("deferred, then published:"))
        .collect();
    assert_eq!(
        lines,
        [
            "  deferred, then published: a-1: swap \"sw-1\" approved: gave Mon to a-2",
            "  deferred, then published: a-101, a-102: swap \"sw-2\" denied: original week published",
            "  deferred, then published: a-2: swap \"sw-1\" approved: took Mon from a-1",
        ],
        "{text}"
    );
}

#[test]
fn a_dry_run_has_no_outcome_and_publishes_nothing() {
    let mut r = report(10);
    r.dry_run = true;
    r.to_publish = 10;
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["outcome"], serde_json::Value::Null);
    assert_eq!(json["end"], "dry_run");
    assert_eq!(json["published"], 0);
    assert_eq!(json["to_publish"], 10);
    assert!(r.render().contains("10 agents: 10 to publish"));
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
