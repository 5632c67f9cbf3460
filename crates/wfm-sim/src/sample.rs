//! A realistic sample week, generated: the roster, the source file an
//! operator would drop in the inbox, and shift swaps that resolve over time.
//! Dev mode, the tests and the benchmark all publish it.
//!
//! Odd-numbered agents work Monday to Friday 08:00–16:00, even-numbered ones
//! Tuesday to Saturday 12:00–20:00, local time. Swap k pairs an odd
//! requester giving its Monday with an even recipient giving its Saturday
//! (every third one is a give-away), resolving in turn approved, denied,
//! expired, canceled.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::scenario::{Schedule, Swap, SwapSide};
use crate::{Shift, SwapStatus};

#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub schedule_id: String,
    pub org_id: String,
    pub time_zone: Tz,
    pub week_start: NaiveDate,
    pub agent_prefix: String,
    pub agents: usize,
    pub swaps: usize,
    /// The last swap resolves this long after the simulator starts.
    pub resolve_within: Duration,
}

#[derive(Debug, Clone)]
pub struct SampleWeek {
    pub schedule: Schedule,
    pub swaps: Vec<Swap>,
    /// The week as CSV, times local to the zone.
    pub csv: String,
}

const RESOLUTIONS: [SwapStatus; 4] = [
    SwapStatus::Approved,
    SwapStatus::Denied,
    SwapStatus::Expired,
    SwapStatus::Canceled,
];

fn works(n: usize, day: u32) -> Option<(u32, u32)> {
    // day 0 = Monday
    if n % 2 == 1 {
        (day < 5).then_some((8, 16))
    } else {
        (1..=5).contains(&day).then_some((12, 20))
    }
}

/// The first line of a week's CSV source file.
pub const CSV_HEADER: &str = "agent_id,date,start,end,activity\n";

/// Appends the CSV rows of the sample week of agent number `n`, named `id`,
/// for the week starting `week_start`.
pub fn csv_rows(csv: &mut String, id: &str, n: usize, week_start: NaiveDate) {
    for day in 0..7 {
        if let Some((from, to)) = works(n, day) {
            let date = week_start + TimeDelta::days(day as i64);
            let activity = if n.is_multiple_of(3) {
                "email"
            } else {
                "phone"
            };
            let _ = writeln!(csv, "{id},{date},{from:02}:00,{to:02}:00,{activity}");
        }
    }
}

fn local(spec: &SampleSpec, day: u32, hour: u32) -> DateTime<Utc> {
    let date = spec.week_start + TimeDelta::days(day as i64);
    let time = NaiveTime::from_hms_opt(hour, 0, 0).expect("a whole hour");
    date.and_time(time)
        .and_local_timezone(spec.time_zone)
        .earliest()
        .expect("sample shifts avoid DST gaps")
        .with_timezone(&Utc)
}

pub fn shift(spec: &SampleSpec, day: u32, (from, to): (u32, u32)) -> Shift {
    Shift {
        start_time: local(spec, day, from),
        end_time: local(spec, day, to),
        activity: None,
    }
}

pub fn agent_id(spec: &SampleSpec, n: usize) -> String {
    format!("{}{n}", spec.agent_prefix)
}

/// Requester and recipient numbers of swap `k`, spread over the roster.
pub fn swap_pair(spec: &SampleSpec, k: usize) -> (usize, usize) {
    let step = (spec.agents / spec.swaps.max(1)).max(2) & !1;
    (k * step + 1, k * step + 2)
}

pub fn generate(spec: &SampleSpec) -> SampleWeek {
    let mut csv = String::from(CSV_HEADER);
    for n in 1..=spec.agents {
        csv_rows(&mut csv, &agent_id(spec, n), n, spec.week_start);
    }
    let swaps = (0..spec.swaps)
        .filter(|k| swap_pair(spec, *k).1 <= spec.agents)
        .map(|k| {
            let (r, e) = swap_pair(spec, k);
            let give_away = k % 3 == 2;
            Swap {
                id: format!("{}-sw-{}", spec.schedule_id, k + 1),
                schedule_id: spec.schedule_id.clone(),
                requester: SwapSide {
                    agent_id: agent_id(spec, r),
                    shift: Some(shift(spec, 0, (8, 16))),
                },
                recipient: SwapSide {
                    agent_id: agent_id(spec, e),
                    shift: (!give_away).then(|| shift(spec, 5, (12, 20))),
                },
                status: SwapStatus::Pending,
                resolve_after: Some(
                    spec.resolve_within
                        .mul_f64((k + 1) as f64 / spec.swaps as f64),
                ),
                resolution: Some(RESOLUTIONS[k % 4]),
            }
        })
        .collect();
    SampleWeek {
        schedule: Schedule {
            id: spec.schedule_id.clone(),
            org_id: spec.org_id.clone(),
            week_start: spec.week_start,
            time_zone: spec.time_zone,
            published: false,
            agents: Vec::new(),
            agent_prefix: Some(spec.agent_prefix.clone()),
            agent_count: spec.agents,
        },
        swaps,
        csv,
    }
}

/// Each agent's week as (start, end) instants, sorted.
pub type Weeks = std::collections::BTreeMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

/// What the platform should hold once the week is published: every agent's
/// week, with the approved trades applied. Worked out from the pattern, not
/// from the publisher's own code.
pub fn expected(spec: &SampleSpec) -> Weeks {
    let mut weeks: Weeks = (1..=spec.agents)
        .map(|n| {
            let week = (0..7)
                .filter_map(|d| works(n, d).map(|h| (local(spec, d, h.0), local(spec, d, h.1))))
                .collect();
            (agent_id(spec, n), week)
        })
        .collect();
    for k in 0..spec.swaps {
        let (r, e) = swap_pair(spec, k);
        if e > spec.agents || RESOLUTIONS[k % 4] != SwapStatus::Approved {
            continue;
        }
        let monday = (local(spec, 0, 8), local(spec, 0, 16));
        let saturday = (local(spec, 5, 12), local(spec, 5, 20));
        let (ri, ei) = (agent_id(spec, r), agent_id(spec, e));
        weeks
            .get_mut(&ri)
            .expect("requester")
            .retain(|s| *s != monday);
        weeks.get_mut(&ei).expect("recipient").push(monday);
        if k % 3 != 2 {
            weeks
                .get_mut(&ei)
                .expect("recipient")
                .retain(|s| *s != saturday);
            weeks.get_mut(&ri).expect("requester").push(saturday);
        }
    }
    for w in weeks.values_mut() {
        w.sort();
    }
    weeks
}
