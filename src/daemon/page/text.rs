//! Text for the page: everything that comes from a source file, the
//! platform or the configuration is escaped here, and times are said in
//! the target's own zone.

use std::fmt::{self, Write};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

/// `text` escaped for HTML text and double- or single-quoted attribute
/// values. Control characters (an ANSI escape, a newline in an id) and
/// invisible formatting characters (a right-to-left override would make an
/// id read as another) are shown as `\u{1b}`, never passed on.
pub fn esc<T: AsRef<str> + ?Sized>(text: &T) -> Esc<'_> {
    Esc(text.as_ref())
}

pub struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c if c.is_control() || crate::domain::plan::is_invisible_format(c) => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `at` in `zone`, as people there read it: `Thu 10 Dec 06:00 CST`.
pub fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

/// `at` in `zone`, to the second: `06:00:12 CST`.
pub fn local_seconds(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M:%S %Z").to_string()
}

/// A `<time>` element: machine-readable instant, local text.
pub fn time(at: DateTime<Utc>, zone: Tz) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        esc(&local(at, zone))
    )
}

/// A duration in its two largest units: `2 d 3 h`, `3 h 12 min`,
/// `4 min 5 s`, `12 s`.
pub fn span(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, _) => format!("{mins} min {secs} s"),
        (0, _, _) => format!("{hours} h {mins} min"),
        _ => format!("{days} d {hours} h"),
    }
}

/// How long until `deadline`, or since it passed.
pub fn left(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if deadline > now {
        format!("{} left", span(deadline - now))
    } else {
        format!("passed {} ago", span(now - deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_quotes_controls_and_invisible_characters_are_shown_as_text() {
        let hostile = "<script>alert(\"x\")</script>'&\u{1b}[31m\u{202e}\n";
        assert_eq!(
            esc(hostile).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;\\u{1b}[31m\\u{202e}\\u{a}"
        );
        assert_eq!(esc("a-1 Zoë").to_string(), "a-1 Zoë");
    }

    #[test]
    fn durations_say_their_two_largest_units() {
        assert_eq!(span(TimeDelta::seconds(12)), "12 s");
        assert_eq!(span(TimeDelta::seconds(245)), "4 min 5 s");
        assert_eq!(
            span(TimeDelta::seconds(3 * 3600 + 12 * 60 + 5)),
            "3 h 12 min"
        );
        assert_eq!(
            span(TimeDelta::seconds(2 * 86_400 + 3 * 3600 + 59)),
            "2 d 3 h"
        );
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(1);
        assert_eq!(left(now + TimeDelta::seconds(90), now), "1 min 30 s left");
        assert_eq!(
            left(now - TimeDelta::seconds(90), now),
            "passed 1 min 30 s ago"
        );
    }

    #[test]
    fn local_times_are_in_the_targets_zone() {
        let at: DateTime<Utc> = "2026-12-10T12:00:00Z".parse().unwrap();
        assert_eq!(
            local(at, chrono_tz::America::Chicago),
            "Thu 10 Dec 06:00 CST"
        );
        assert_eq!(
            time(at, chrono_tz::Europe::London),
            "<time datetime=\"2026-12-10T12:00:00Z\">Thu 10 Dec 12:00 GMT</time>"
        );
    }
}
