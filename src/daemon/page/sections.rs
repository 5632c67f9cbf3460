//! The parts of a target's section that list things: the agents waiting
//! for a trade, the unpublished agents by cause, the run's timeline and
//! the latest runs.

use std::fmt::Write;

use super::chart;
use super::fixes;
use super::text::{esc, left, local_seconds, span, time};
use super::view::{Page, TargetView};
use crate::domain::plan::Swap;
use crate::domain::{AgentId, SwapId};

/// Seconds of the timeline the page's table lists: the latest ones with
/// something in them.
const TABLE_SECONDS: usize = 60;

/// The agents a pending trade holds, with the trade as last listed, and
/// the deferral deadline counting down.
pub fn deferred(page: &Page, t: &TargetView, id: &str) -> String {
    if t.deferred.is_empty() {
        return String::new();
    }
    let deadline = match t.deadline {
        Some(at) => format!(
            "<p>Deferral deadline {}: <strong data-countdown=\"{}\">{}</strong>. \
             An agent whose trade is still pending then stays unpublished: approve or deny these trades on the platform before it.</p>",
            time(at, t.time_zone),
            at.timestamp(),
            esc(&left(at, page.now)),
        ),
        None => String::new(),
    };
    let mut rows = String::new();
    for agent in &t.deferred {
        let trade_id = agent.swap_id.as_ref().map_or("(unknown)", SwapId::as_str);
        let (state, other, seen) = match &agent.trade {
            Some(seen) => (
                seen.swap.status.as_str().to_owned(),
                format!(
                    "<code>{}</code>",
                    esc(other_agent(&seen.swap, &agent.agent_id))
                ),
                format!(
                    "{} ({} ago)",
                    esc(&local_seconds(seen.seen_at, t.time_zone)),
                    esc(&span(page.now - seen.seen_at))
                ),
            ),
            None => (
                "pending".to_owned(),
                "—".to_owned(),
                "not listed since the daemon started".to_owned(),
            ),
        };
        let _ = write!(
            rows,
            "<tr data-agent=\"{agent_id}\"><th scope=\"row\"><code>{agent_id}</code></th><td><code>{}</code></td><td>{state}</td><td>{other}</td><td>{seen}</td></tr>",
            esc(trade_id),
            agent_id = esc(&agent.agent_id),
        );
    }
    format!(
        "<section class=\"deferred\" aria-labelledby=\"{id}-deferred\"><h3 id=\"{id}-deferred\">Waiting for a shift trade ({})</h3>{deadline}\
         <table><thead><tr><th scope=\"col\">Agent</th><th scope=\"col\">Trade</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Other agent</th><th scope=\"col\">Last seen</th></tr></thead><tbody>{rows}</tbody></table></section>",
        t.deferred.len()
    )
}

/// The trade's party that is not `agent`.
fn other_agent<'a>(swap: &'a Swap, agent: &AgentId) -> &'a AgentId {
    if swap.requester.agent_id == *agent {
        &swap.recipient.agent_id
    } else {
        &swap.requester.agent_id
    }
}

/// The unpublished agents grouped by cause, the fix said once for each,
/// then how to run the target again.
pub fn unpublished(page: &Page, t: &TargetView, id: &str) -> String {
    if t.unpublished.is_empty() {
        return String::new();
    }
    let total: usize = t.unpublished.iter().map(|g| g.agents.len()).sum();
    let mut out = format!(
        "<section class=\"unpublished\" aria-labelledby=\"{id}-unpublished\"><h3 id=\"{id}-unpublished\">Unpublished ({total})</h3>"
    );
    for (n, group) in t.unpublished.iter().enumerate() {
        let gid = format!("{id}-cause{n}");
        let _ = write!(
            out,
            "<div class=\"cause\" data-cause=\"{}\" aria-labelledby=\"{gid}\" role=\"group\"><h4 id=\"{gid}\">{} ({})</h4>\
             <p class=\"fix\"><strong>Fix:</strong> {}</p><ul class=\"agents\">",
            group.kind.as_str(),
            fixes::cause(group.kind),
            group.agents.len(),
            fixes::fix(group.kind),
        );
        for a in &group.agents {
            let _ = write!(out, "<li><code>{}</code></li>", esc(&a.agent));
        }
        let _ = write!(
            out,
            "</ul><details id=\"{gid}-messages\"><summary>Each agent's message</summary><ul>"
        );
        for a in &group.agents {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                esc(&a.agent),
                esc(&a.note)
            );
        }
        out.push_str("</ul></details></div>");
    }
    let week = t
        .latest
        .as_ref()
        .map(|r| r.week_start.to_string())
        .unwrap_or_default();
    let _ = write!(
        out,
        "<p class=\"again\">To run the target again: <code>POST /targets/{name}/runs</code> on this endpoint with the admin token, \
         or with the daemon stopped <code>wfm-publisher publish --config {} --target {name} --week {week}</code>. \
         Agents already published are not sent again.</p></section>",
        esc(&page.config),
        name = esc(&t.name),
    );
    out
}

/// The current (or last) run's activity per second, as a chart and a table.
pub fn timeline(t: &TargetView, id: &str) -> String {
    let Some(line) = t.timeline.as_ref().filter(|l| !l.seconds.is_empty()) else {
        return String::new();
    };
    let heading = if line.running {
        "This run, second by second"
    } else {
        "The last run, second by second"
    };
    let mut rows = String::new();
    let busy = line
        .seconds
        .iter()
        .filter(|s| chart::SERIES.iter().any(|c| (c.value)(s) > 0));
    let busy: Vec<_> = busy.collect();
    for s in busy.iter().rev().take(TABLE_SECONDS) {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(s.at);
        let _ = write!(
            rows,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&local_seconds(at, t.time_zone)),
            s.writes,
            s.publishes,
            s.rate_limited,
            s.lock_waits
        );
    }
    format!(
        "<section class=\"timeline\" aria-labelledby=\"{id}-timeline\"><h3 id=\"{id}-timeline\">{heading}</h3>\
         <p>Started {}; the last 15 minutes are kept.</p><figure>{}<figcaption>{}</figcaption></figure>\
         <details id=\"{id}-numbers\"><summary>The chart's numbers (latest busy seconds first)</summary>\
         <table><thead><tr><th scope=\"col\">Second</th><th scope=\"col\">Writes</th><th scope=\"col\">Publishes</th>\
         <th scope=\"col\">429s</th><th scope=\"col\">Lock waits</th></tr></thead><tbody>{rows}</tbody></table></details></section>",
        time(line.started, t.time_zone),
        chart::svg(&format!("{id}-chart"), &line.seconds, t.time_zone),
        chart::legend(),
    )
}

/// The latest runs: outcome, when, how long, and the report.
pub fn runs(page: &Page, t: &TargetView, id: &str) -> String {
    if t.runs.is_empty() {
        return format!(
            "<section class=\"runs\" aria-labelledby=\"{id}-runs\"><h3 id=\"{id}-runs\">Latest runs</h3><p>No run yet.</p></section>"
        );
    }
    let mut rows = String::new();
    for run in &t.runs {
        let took = match run.finished_at {
            Some(end) => span(end - run.started_at),
            None => format!("{} so far", span(page.now - run.started_at)),
        };
        let report = match &run.summary {
            Some(text) => format!(
                "<details id=\"{id}-run{}\"><summary>Report</summary><pre>{}</pre></details>",
                run.id,
                esc_lines(text)
            ),
            None => "—".to_owned(),
        };
        let _ = write!(
            rows,
            "<tr data-run=\"{}\"><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"outcome {outcome}\">{outcome}</td><td>{}</td><td>{report}</td></tr>",
            run.id,
            run.id,
            run.week_start,
            time(run.started_at, t.time_zone),
            esc(&took),
            outcome = run.outcome,
        );
    }
    format!(
        "<section class=\"runs\" aria-labelledby=\"{id}-runs\"><h3 id=\"{id}-runs\">Latest runs</h3>\
         <table><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Week</th><th scope=\"col\">Started</th>\
         <th scope=\"col\">Outcome</th><th scope=\"col\">Took</th><th scope=\"col\">Report</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

/// A report of several lines: each line escaped, the line breaks kept.
fn esc_lines(text: &str) -> String {
    text.lines()
        .map(|l| esc(l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
