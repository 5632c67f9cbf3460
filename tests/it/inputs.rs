//! Bad input never gets through unlocated, and good input is read exactly:
//! property tests for schedule parsing and time-zone conversion, and a
//! corpus of malformed schedule files and configurations.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use wfm_publisher::config::{
    AmbiguousTimePolicy, DstPolicy, NonexistentTimePolicy, Settings, SourceFormat,
};
use wfm_publisher::domain::TargetName;
use wfm_publisher::sample::Weeks;
use wfm_publisher::source::{parse_week, to_utc};

const STRICT: DstPolicy = DstPolicy {
    nonexistent: NonexistentTimePolicy::Error,
    ambiguous: AmbiguousTimePolicy::Error,
};

fn target(name: &str) -> TargetName {
    name.parse().unwrap()
}

/// Why `text`, as `w.csv` for Chicago's week of 2026-11-30, is refused.
fn refused_csv(text: &str) -> String {
    let week: NaiveDate = "2026-11-30".parse().unwrap();
    let tz: Tz = "America/Chicago".parse().unwrap();
    let path = Path::new("w.csv");
    parse_week(
        text,
        path,
        SourceFormat::Csv,
        week,
        tz,
        STRICT,
        &target("t"),
    )
    .expect_err("refused")
    .to_string()
}

const ZONES: [&str; 6] = [
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe", // a 30-minute DST change
    "Asia/Kolkata",
    "UTC",
];

/// Weeks around the DST changes of 2026 in the zones above, and an ordinary one.
const WEEKS: [&str; 6] = [
    "2026-03-02",
    "2026-03-23",
    "2026-03-30",
    "2026-10-26",
    "2026-09-28",
    "2026-06-15",
];

#[derive(Debug, Clone)]
struct GenShift {
    agent: usize,
    day: i64,
    start_min: u32,
    len_min: u32,
    activity: &'static str,
}

fn shifts() -> impl Strategy<Value = Vec<GenShift>> {
    prop::collection::vec(
        (
            0usize..4,
            0i64..7,
            0u32..96,
            1u32..48,
            prop::sample::select(vec!["phone", "email", "chat"]),
        )
            .prop_map(|(agent, day, q, len, activity)| GenShift {
                agent,
                day,
                start_min: q * 15,
                len_min: len * 15,
                activity,
            }),
        1..20,
    )
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
}

/// The week as the independent reading expects it, or `None` when it must
/// be refused (an overlap, or a time the DST change skips or repeats).
fn expected(shifts: &[GenShift], week: NaiveDate, tz: Tz) -> Option<Weeks> {
    let mut weeks = Weeks::new();
    for s in shifts {
        let date = week + TimeDelta::days(s.day);
        let start = date.and_time(NaiveTime::MIN) + TimeDelta::minutes(s.start_min as i64);
        let end_minute = (s.start_min + s.len_min) % (24 * 60);
        let end_date = if end_minute <= s.start_min {
            date + TimeDelta::days(1)
        } else {
            date
        };
        let end = end_date.and_time(NaiveTime::MIN) + TimeDelta::minutes(end_minute as i64);
        let a = tz.from_local_datetime(&start).single()?.with_timezone(&Utc);
        let b = tz.from_local_datetime(&end).single()?.with_timezone(&Utc);
        weeks
            .entry(format!("ag-{}", s.agent))
            .or_default()
            .push((a, b));
    }
    for w in weeks.values_mut() {
        w.sort();
        if w.windows(2).any(|p| p[1].0 < p[0].1) {
            return None;
        }
    }
    Some(weeks)
}

fn csv(shifts: &[GenShift], week: NaiveDate) -> String {
    let mut out = String::from("agent_id,date,start,end,activity\n");
    for s in shifts {
        out.push_str(&format!(
            "ag-{},{},{},{},{}\n",
            s.agent,
            week + TimeDelta::days(s.day),
            hhmm(s.start_min),
            hhmm(s.start_min + s.len_min),
            s.activity
        ));
    }
    out
}

fn json(shifts: &[GenShift], week: NaiveDate) -> String {
    let mut agents: BTreeMap<usize, Vec<serde_json::Value>> = BTreeMap::new();
    for s in shifts {
        agents.entry(s.agent).or_default().push(serde_json::json!({
            "date": (week + TimeDelta::days(s.day)).to_string(),
            "start": hhmm(s.start_min),
            "end": hhmm(s.start_min + s.len_min),
            "activity": s.activity,
        }));
    }
    let agents: Vec<_> = agents
        .into_iter()
        .map(|(a, shifts)| serde_json::json!({"agentId": format!("ag-{a}"), "shifts": shifts}))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "agents": agents })).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_week_reads_exactly_or_is_refused_with_a_line(
        list in shifts(),
        zone in prop::sample::select(ZONES.to_vec()),
        week in prop::sample::select(WEEKS.to_vec()),
    ) {
        let tz: Tz = zone.parse().unwrap();
        let week: NaiveDate = week.parse().unwrap();
        let text = csv(&list, week);
        let parsed = parse_week(&text, Path::new("w.csv"), SourceFormat::Csv, week, tz, STRICT, &target("t"));
        match (expected(&list, week, tz), parsed) {
            (Some(want), Ok(plan)) => {
                let got: BTreeMap<_, _> = plan.agents.iter().map(|(a, w)| {
                    (a.to_string(), w.shifts().iter().map(|s| (s.start, s.end)).collect::<Vec<_>>())
                }).collect();
                prop_assert_eq!(got, want);
                let from_json = parse_week(&json(&list, week), Path::new("w.json"), SourceFormat::Json, week, tz, STRICT, &target("t")).unwrap();
                prop_assert_eq!(from_json.agents, plan.agents);
            }
            (None, Err(e)) => {
                for p in &e.problems {
                    prop_assert!(p.line.is_some(), "{}", p);
                    let m = &p.message;
                    prop_assert!(m.contains("overlaps") || m.contains("does not exist") || m.contains("happens twice"), "{}", p);
                }
            }
            (Some(_), Err(e)) => prop_assert!(false, "refused a valid week: {}", e),
            (None, Ok(_)) => prop_assert!(false, "accepted an invalid week:\n{}", text),
        }
    }

    #[test]
    fn garbage_never_panics_and_is_located(lines in prop::collection::vec("[ -~]{0,60}", 0..12)) {
        let text = format!("agent_id,date,start,end,activity\n{}", lines.join("\n"));
        let week: NaiveDate = "2026-11-30".parse().unwrap();
        let tz: Tz = "America/Chicago".parse().unwrap();
        if let Err(e) = parse_week(&text, Path::new("g.csv"), SourceFormat::Csv, week, tz, STRICT, &target("t")) {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(p.to_string().starts_with("g.csv"), "{}", p);
            }
        }
        let _ = parse_week(&lines.join("\n"), Path::new("g.json"), SourceFormat::Json, week, tz, STRICT, &target("t"));
    }

    #[test]
    fn a_local_time_converts_to_the_instant_that_shows_it(
        minutes in 0i64..(366 * 24 * 60),
        zone in prop::sample::select(ZONES.to_vec()),
    ) {
        let tz: Tz = zone.parse().unwrap();
        let wall: NaiveDateTime = "2026-01-01T00:00:00".parse::<NaiveDateTime>().unwrap() + TimeDelta::minutes(minutes);
        match (tz.from_local_datetime(&wall).single(), to_utc(wall, tz, STRICT, &target("t"))) {
            (Some(_), Ok(at)) => prop_assert_eq!(at.with_timezone(&tz).naive_local(), wall),
            (None, Err(_)) => {}
            (single, result) => prop_assert!(false, "{wall} in {zone}: {single:?} vs {result:?}"),
        }
        let lenient = DstPolicy { nonexistent: NonexistentTimePolicy::ShiftForward, ambiguous: AmbiguousTimePolicy::Earliest };
        let at = to_utc(wall, tz, lenient, &target("t")).unwrap();
        // Shifted forward at most by the gap, never backwards.
        let shown = at.with_timezone(&tz).naive_local();
        prop_assert!(shown >= wall && shown - wall <= TimeDelta::hours(1), "{wall} -> {shown}");
    }
}

fn corpus(dir: &str) -> Vec<Vec<String>> {
    let path = common::repo_file(&format!("tests/corpus/{dir}/EXPECTED"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn every_malformed_schedule_file_is_refused_with_file_and_line() {
    let week: NaiveDate = "2026-11-30".parse().unwrap();
    let tz: Tz = "America/Chicago".parse().unwrap();
    let cases = corpus("schedules");
    assert!(cases.len() >= 15);
    for case in cases {
        let (file, line, what) = (&case[0], &case[1], &case[2]);
        let path = common::repo_file(&format!("tests/corpus/schedules/{file}"));
        let text = std::fs::read_to_string(&path).unwrap();
        let format = if file.ends_with(".json") {
            SourceFormat::Json
        } else {
            SourceFormat::Csv
        };
        let err = parse_week(&text, &path, format, week, tz, STRICT, &target("chicago"))
            .expect_err(file)
            .to_string();
        let located = if line == "-" {
            format!("{}: ", path.display())
        } else {
            format!("{}:{line}: ", path.display())
        };
        assert!(
            err.lines()
                .any(|l| l.starts_with(&located) && l.contains(what.as_str())),
            "{file}: wanted {located}…{what}, got:\n{err}"
        );
    }
}

#[test]
fn every_malformed_configuration_is_refused_naming_file_and_key() {
    let cases = corpus("config");
    assert!(cases.len() >= 10);
    for case in cases {
        let (file, what) = (&case[0], &case[1]);
        let path = common::repo_file(&format!("tests/corpus/config/{file}"));
        let err = Settings::load_with_env(&path, Default::default())
            .expect_err(file)
            .to_string();
        assert!(
            err.lines()
                .any(|l| l.starts_with(&path.display().to_string()) && l.contains(what.as_str())),
            "{file}: wanted a line naming {what}, got:\n{err}"
        );
    }
}

/// Problems and whether every one is a single line of bounded length with
/// no control character (ANSI escapes start with one).
fn one_clean_line_each(err: &str) -> Result<(), String> {
    for line in err.lines() {
        if line.chars().any(char::is_control) || line.chars().count() > 400 {
            return Err(format!("{line:?}"));
        }
    }
    Ok(())
}

#[test]
fn input_repeated_in_a_problem_is_quoted_cut_and_escaped() {
    let week: NaiveDate = "2026-11-30".parse().unwrap();
    let tz: Tz = "America/Chicago".parse().unwrap();
    let long = "x".repeat(100_000);
    let csv = format!(
        "agent_id,date,start,end,activity,\"col\x1b[2J\"\n\
         \"a\nb\",\"2026-12-01\x1b]0;owned\x07\",\"{long}\",16:00,phone,x\n"
    );
    let json = format!(
        r#"{{"agents": [{{"agentId": "a-1", "shifts": [{{"date": "2026-12-01", "start": "08:00", "end": "16:00", "activity": "phone", "x{long}\u001b[31m": 1}}]}}]}}"#
    );
    let header_only = "agent_id,date,start,end,activity,\"c\x1b[2J\"\n";
    let cells = "agent_id,date,start,end,activity\n\"a\nb\",\"2026-12-01\x1b]0;owned\x07\",08:00,16:00,phone\n";
    for (text, format, expected) in [
        (csv.as_str(), SourceFormat::Csv, 1),
        (header_only, SourceFormat::Csv, 1),
        (cells, SourceFormat::Csv, 1),
        (json.as_str(), SourceFormat::Json, 1),
    ] {
        let err = parse_week(text, Path::new("w"), format, week, tz, STRICT, &target("t"))
            .expect_err("refused")
            .to_string();
        assert!(err.lines().count() >= expected, "{err}");
        one_clean_line_each(&err).unwrap_or_else(|line| panic!("{line} in:\n{err}"));
    }
}

#[test]
fn a_file_that_is_not_a_schedule_is_refused_without_repeating_its_first_line() {
    for secret in ["s3cr3t-client-value", "root:$y$j9T$hash:19000:0:99999:7:::"] {
        let err = refused_csv(secret);
        assert!(err.contains("w.csv:1: not a week's CSV file"), "{err}");
        assert!(!err.contains("s3cr3t") && !err.contains("j9T"), "{err}");
    }
}

/// Issue 27 item 12: ids and activities that would print misleadingly
/// (a right-to-left override, a zero-width space) or that are absurdly
/// long are refused with their line; nothing of them is printed raw.
#[test]
fn invisible_formatting_and_absurd_lengths_are_refused() {
    let long_id = "a".repeat(300);
    let long_activity = "p".repeat(200);
    let cases = [
        ("a-1\u{202E}1-a".to_owned(), "phone".to_owned(), "U+202E"),
        ("a\u{200B}-1".to_owned(), "phone".to_owned(), "U+200B"),
        (long_id, "phone".to_owned(), "300 characters long"),
        ("a-1".to_owned(), long_activity, "longer than the 128"),
        (
            "a-1".to_owned(),
            "pho\u{2066}ne".to_owned(),
            "invisible formatting",
        ),
    ];
    for (agent, activity, expected) in cases {
        let csv = format!(
            "agent_id,date,start,end,activity\n{agent},2026-12-01,08:00,16:00,{activity}\n"
        );
        let err = refused_csv(&csv);
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(err.contains("w.csv:2:"), "{err}");
        assert!(
            !err.contains(['\u{202E}', '\u{200B}', '\u{2066}']),
            "printed raw: {err}"
        );
    }
}
