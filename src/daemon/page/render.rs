//! The page as HTML: the document, its header and one section per target.
//! The parts of a target's section that list agents and runs are in
//! `sections`.

use std::fmt::Write;

use chrono::SecondsFormat;

use super::sections;
use super::text::{esc, left, local_seconds, time};
use super::view::{Doing, Page, TargetView};
use super::{SCRIPT, STYLE};
use crate::domain::lifecycle::StateKind;

/// Seconds between two refreshes of the page by its script.
pub const REFRESH_SECONDS: u32 = 3;

pub fn document(page: &Page) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>wfm-publisher status</title><style>{STYLE}</style></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to the targets</a>{}\
         <main id=\"main\" data-refresh=\"{REFRESH_SECONDS}\">{}",
        header(page),
        nav(page)
    );
    if page.targets.is_empty() {
        out.push_str("<p>No target is configured.</p>");
    }
    for target in &page.targets {
        out.push_str(&target_section(page, target));
    }
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}

fn header(page: &Page) -> String {
    let role = match (page.role, &page.lease_holder) {
        ("leader", _) => "This process publishes (it holds the lease, or needs none).".to_owned(),
        (_, Some(holder)) => format!(
            "This process stands by: {} holds the publishing lease.",
            esc(holder)
        ),
        _ => "This process stands by: the publishing lease is not held here.".to_owned(),
    };
    format!(
        "<header><h1>wfm-publisher</h1><p class=\"role\">{role}</p>\
         <p class=\"updates\"><span id=\"updated\">Updated <time datetime=\"{}\">{}</time></span> \
         <button type=\"button\" id=\"pause\" aria-pressed=\"false\">Pause updates</button></p></header>",
        page.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        esc(&local_seconds(page.now, chrono_tz::UTC)),
    )
}

fn nav(page: &Page) -> String {
    if page.targets.len() < 2 {
        return String::new();
    }
    let mut out = String::from("<nav aria-label=\"Targets\"><ul>");
    for (i, t) in page.targets.iter().enumerate() {
        let _ = write!(out, "<li><a href=\"#t{i}\">{}</a></li>", esc(&t.name));
    }
    out.push_str("</ul></nav>");
    out
}

fn target_section(page: &Page, t: &TargetView) -> String {
    let id = format!(
        "t{}",
        page.targets
            .iter()
            .position(|o| o.name == t.name)
            .unwrap_or(0)
    );
    let mut out = format!(
        "<section class=\"target\" id=\"{id}\" aria-labelledby=\"{id}-h\" data-target=\"{name}\">\
         <h2 id=\"{id}-h\">{name}</h2>",
        name = esc(&t.name)
    );
    out.push_str(&facts(page, t));
    out.push_str(&counts(t));
    if let Some(adoption) = &t.adoption {
        let _ = write!(
            out,
            "<p class=\"alert\">The platform shows the week of {} published, and the store has no record of it. \
             To take it over: <code>{}</code> ({})</p>",
            adoption.week,
            esc(&adoption.command),
            esc(adoption.note)
        );
    }
    out.push_str(&sections::deferred(page, t, &id));
    out.push_str(&sections::unpublished(page, t, &id));
    out.push_str(&sections::timeline(t, &id));
    out.push_str(&sections::runs(page, t, &id));
    out.push_str("</section>");
    out
}

/// The week, what the run does, the next run in the target's zone.
fn facts(page: &Page, t: &TargetView) -> String {
    let week = t
        .latest
        .as_ref()
        .map_or_else(|| "none yet".to_owned(), |r| r.week_start.to_string());
    let next = match t.next_run {
        Some(at) => format!("{} ({})", time(at, t.time_zone), esc(&left(at, page.now))),
        None => "not planned".to_owned(),
    };
    format!(
        "<dl class=\"facts\">\
         <div><dt>Week</dt><dd data-field=\"week\">{week}</dd></div>\
         <div><dt>Now</dt><dd data-field=\"doing\">{}</dd></div>\
         <div><dt>Next run</dt><dd data-field=\"next-run\">{next}</dd></div>\
         <div><dt>Zone and schedule</dt><dd>{} · cron <code>{}</code></dd></div></dl>",
        doing(page, t),
        esc(t.time_zone.name()),
        esc(&t.cron),
    )
}

fn doing(page: &Page, t: &TargetView) -> String {
    match &t.doing {
        Doing::Idle => "idle".to_owned(),
        Doing::Writing => "publishing: writing agents' weeks".to_owned(),
        Doing::Publishing => "publishing: publishing written weeks".to_owned(),
        Doing::WaitingForSwaps => "publishing: waiting for shift trades to be decided".to_owned(),
        Doing::WaitingForSource { path, deadline } => format!(
            "waiting for the week's source file <code>{}</code> until {} ({})",
            esc(path),
            time(*deadline, t.time_zone),
            esc(&left(*deadline, page.now))
        ),
        Doing::RetryAt { at, attempt } => format!(
            "the last run failed: attempt {attempt} starts at {} ({})",
            time(*at, t.time_zone),
            esc(&left(*at, page.now))
        ),
    }
}

/// The week's agents by state, in the latest run.
fn counts(t: &TargetView) -> String {
    let mut head = String::new();
    let mut cells = String::new();
    for kind in StateKind::ALL {
        let n = t.counts.get(&kind).copied().unwrap_or(0);
        let _ = write!(head, "<th scope=\"col\">{}</th>", kind.as_str());
        let _ = write!(cells, "<td data-count=\"{}\">{n}</td>", kind.as_str());
    }
    let total: usize = t.counts.values().sum();
    format!(
        "<table class=\"counts\"><caption>Agents of the week by state ({total} in all)</caption>\
         <thead><tr>{head}</tr></thead><tbody><tr>{cells}</tr></tbody></table>"
    )
}
