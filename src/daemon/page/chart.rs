//! The run's timeline as an inline SVG line chart: writes, publishes, 429s
//! and lock waits per second. Each series has its own colour and its own
//! dash pattern, so the chart reads without colour too; its title and
//! description say the totals for screen readers, and the page has the
//! numbers as a table besides.
//!
//! `SERIES` is a table: its entries are alike in shape on purpose.

use std::fmt::Write;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::super::live::Second;
use super::text::{esc, local_seconds};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One line of the chart.
pub struct Series {
    pub name: &'static str,
    /// The CSS class that colours and dashes its line (page.css).
    pub class: &'static str,
    pub value: fn(&Second) -> u32,
}

pub const SERIES: [Series; 4] = [
    Series {
        name: "writes",
        class: "s-writes",
        value: |s| s.writes,
    },
    Series {
        name: "publishes",
        class: "s-publishes",
        value: |s| s.publishes,
    },
    Series {
        name: "429s",
        class: "s-429",
        value: |s| s.rate_limited,
    },
    Series {
        name: "lock waits",
        class: "s-locks",
        value: |s| s.lock_waits,
    },
];

/// The smallest of 1, 2, 5 × 10ⁿ at or above `max`: the y axis' top.
fn nice_top(max: u32) -> u32 {
    let mut step = 1u32;
    loop {
        for m in [1, 2, 5] {
            if let Some(top) = step.checked_mul(m) {
                if top >= max {
                    return top;
                }
            }
        }
        match step.checked_mul(10) {
            Some(next) => step = next,
            None => return u32::MAX,
        }
    }
}

fn at(second: &Second) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(second.at)
}

/// The chart for `seconds` (oldest first, at least one), its id prefix
/// `id` (unique on the page), times said in `zone`.
pub fn svg(id: &str, seconds: &[Second], zone: Tz) -> String {
    let (Some(first), Some(last)) = (seconds.first(), seconds.last()) else {
        return String::new();
    };
    let max = seconds
        .iter()
        .flat_map(|s| SERIES.iter().map(move |series| (series.value)(s)))
        .max()
        .unwrap_or(0);
    let top = nice_top(max.max(1));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let span = (seconds.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + plot_w * i as f64 / span;
    let y = |v: u32| TOP + plot_h * (1.0 - f64::from(v) / f64::from(top));
    let (from, to) = (
        local_seconds(at(first), zone),
        local_seconds(at(last), zone),
    );
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\
         <title id=\"{id}-title\">Writes, publishes, 429s and lock waits per second</title>\
         <desc id=\"{id}-desc\">From {from} to {to}: {}; at most {max} in one second.</desc>",
        esc(&totals(seconds)),
        from = esc(&from),
        to = esc(&to),
    );
    for v in [0, top / 2, top] {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    let base = HEIGHT - 8.0;
    let _ = write!(
        out,
        "<text class=\"tick\" x=\"{LEFT}\" y=\"{base}\">{}</text>\
         <text class=\"tick\" x=\"{}\" y=\"{base}\" text-anchor=\"end\">{}</text>",
        esc(&from),
        WIDTH - RIGHT,
        esc(&to),
    );
    for series in &SERIES {
        let points: Vec<String> = seconds
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", x(i), y((series.value)(s))))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"line {}\" points=\"{}\"/>",
            series.class,
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// Each series' total: `120 writes, 118 publishes, 3 429s, 0 lock waits`.
pub fn totals(seconds: &[Second]) -> String {
    SERIES
        .iter()
        .map(|series| {
            let total: u64 = seconds.iter().map(|s| u64::from((series.value)(s))).sum();
            format!("{total} {}", series.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The legend: each series' name beside a sample of its line.
pub fn legend() -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for series in &SERIES {
        let _ = write!(
            out,
            "<li><svg class=\"swatch\" viewBox=\"0 0 28 8\" aria-hidden=\"true\"><line class=\"line {}\" x1=\"0\" x2=\"28\" y1=\"4\" y2=\"4\"/></svg>{}</li>",
            series.class, series.name
        );
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_tops_at_a_round_number() {
        assert_eq!(nice_top(1), 1);
        assert_eq!(nice_top(3), 5);
        assert_eq!(nice_top(14), 20);
        assert_eq!(nice_top(51), 100);
        assert_eq!(nice_top(u32::MAX), u32::MAX);
    }

    #[test]
    fn each_series_is_a_line_and_the_totals_are_said() {
        let seconds = [
            Second {
                at: 1_000,
                writes: 10,
                publishes: 0,
                rate_limited: 2,
                lock_waits: 0,
            },
            Second {
                at: 1_001,
                writes: 4,
                publishes: 14,
                rate_limited: 0,
                lock_waits: 1,
            },
        ];
        let svg = svg("c", &seconds, chrono_tz::UTC);
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(
            svg.contains("14 writes, 14 publishes, 2 429s, 1 lock waits; at most 14"),
            "{svg}"
        );
        assert!(svg.contains("aria-labelledby=\"c-title c-desc\""));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
