//! The report as people read it: one line per fact. Unpublished agents
//! are grouped by cause, the cause and its fix said once, the agents
//! packed under it; a stopped run says how far it got and the command that
//! resumes it; times are the target's local ones, with the zone.

use std::fmt::Write as _;

use super::{AgentNote, Report, RunEnd, UnpublishedAgent};
use crate::capped::more_line;
use crate::domain::lifecycle::UnpublishedKind;
use crate::echo::{echo, push_line};
use crate::publish::causes::{cause, fix};

/// Where packed lists of agents wrap: a 100-column terminal, or a 160 one
/// split in two, shows each line whole.
const WIDTH: usize = 100;

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let week = r
        .week_start
        .map(|w| w.to_string())
        .unwrap_or_else(|| "?".into());
    push_line(
        &mut out,
        &format!(
            "target {}, week {week}, schedule {}: {}",
            r.target,
            r.schedule_id,
            r.end().describe()
        ),
    );
    for p in r.problems.iter() {
        push_line(&mut out, &format!("  problem: {p}"));
    }
    more(&mut out, r.problems.more(), "problems");
    if let Some(w) = &r.source_wait {
        let end = w.arrived.map_or_else(
            || format!("it did not arrive by {}", w.deadline),
            |at| format!("it arrived at {at}"),
        );
        let path = w.path.display();
        push_line(
            &mut out,
            &format!("  waited for {path} from {}: {end}", w.since),
        );
    }
    counts(&mut out, r);
    timing(&mut out, r);
    r.changes.iter().for_each(|c| c.render(&mut out));
    deferred_then_published(&mut out, r);
    still_deferred(&mut out, r);
    unpublished(&mut out, r);
    again(&mut out, r);
    let c = &r.client;
    if c.requests > 0 {
        push_line(&mut out, &format!("  platform: {} requests, {} retries, {} rate-limited (429), {} masked 403s, {} lock waits, {} token requests",
            c.requests, c.retries, c.rate_limited, c.masked_rate_limited, c.locked, c.token_requests
        ));
    }
    out
}

/// The agents counted by what became of them; what a stopped run left is
/// said only when there is some.
fn counts(out: &mut String, r: &Report) {
    if r.agents == 0 {
        return;
    }
    let mut line = match r.dry_run {
        true => format!("  {} agents: {} to publish", r.agents, r.to_publish),
        false => format!("  {} agents: {} published", r.agents, r.published),
    };
    let _ = write!(
        line,
        ", {} unchanged since an earlier run, {} deferred then published, {} unpublished, {} still deferred",
        r.unchanged,
        r.deferred_then_published.len(),
        r.unpublished.len(),
        r.still_deferred.len()
    );
    if r.written > 0 {
        let _ = write!(line, ", {} written but not yet published", r.written);
    }
    if r.not_reached > 0 {
        let _ = write!(line, ", {} not sent yet", r.not_reached);
    }
    push_line(out, &line);
}

/// How long the run took and how fast it published.
fn timing(out: &mut String, r: &Report) {
    let Some(elapsed) = r.elapsed() else { return };
    let shown = std::time::Duration::from_secs(elapsed.as_secs());
    let mut line = format!("  took {}", humantime::format_duration(shown));
    if elapsed.as_secs() == 0 {
        line = "  took under a second".to_owned();
    }
    if r.published_earlier > 0 {
        let _ = write!(
            line,
            " since it resumed ({} published before)",
            r.published_earlier
        );
    }
    if let Some(rate) = r.rate() {
        let _ = write!(line, ", {rate:.1} agents published a second");
    }
    push_line(out, &line);
}

/// What each decided swap did, one line for the agents it did the same to
/// (both of a denied swap: the note names the swap, so equal notes are one
/// swap's).
fn deferred_then_published(out: &mut String, r: &Report) {
    let mut notes: Vec<(&str, Vec<&str>)> = Vec::new();
    for AgentNote { agent, note } in r.deferred_then_published.iter() {
        match notes.iter_mut().find(|(n, _)| n == note) {
            Some((_, agents)) => agents.push(agent.as_str()),
            None => notes.push((note, vec![agent.as_str()])),
        }
    }
    for (note, agents) in notes {
        let agents = agents.join(", ");
        push_line(
            out,
            &format!("  deferred, then published: {agents}: {note}"),
        );
    }
    more(
        out,
        r.deferred_then_published.more(),
        "deferred, then published",
    );
}

/// The agents still waiting, packed after one line that says for what.
fn still_deferred(out: &mut String, r: &Report) {
    if r.still_deferred.is_empty() {
        return;
    }
    let deadline = match (r.deferral_deadline, r.time_zone) {
        (Some(at), Some(tz)) => format!(
            "; given up at the deferral deadline, {}",
            crate::local_time::moment(at, tz)
        ),
        _ => String::new(),
    };
    push_line(
        out,
        &format!(
            "  {} still deferred, waiting for a shift swap{deadline}:",
            r.still_deferred.len()
        ),
    );
    let items = r
        .still_deferred
        .iter()
        .map(|AgentNote { agent, note: swap }| format!("{agent} (swap {})", echo(swap)));
    pack(out, items);
    more(out, r.still_deferred.more(), "still deferred");
}

/// Each cause once, with its fix, then its agents: packed when the cause
/// says all there is to say of them, one line each with its own message
/// otherwise (the platform's words for each refused week).
fn unpublished(out: &mut String, r: &Report) {
    let mut kinds: Vec<Option<UnpublishedKind>> = r.causes.iter().map(|c| Some(c.kind)).collect();
    for u in r.unpublished.iter() {
        if !kinds.contains(&u.kind) {
            kinds.push(u.kind);
        }
    }
    for kind in kinds {
        let agents: Vec<&UnpublishedAgent> =
            r.unpublished.iter().filter(|u| u.kind == kind).collect();
        let total = kind
            .and_then(|k| r.causes.iter().find(|c| c.kind == k))
            .map_or(agents.len(), |c| c.count);
        let heading = kind.map_or("the run stopped before they were published", cause);
        let when = match (kind, r.deferral_deadline, r.time_zone) {
            (Some(UnpublishedKind::DeadlinePassed), Some(at), Some(tz)) => {
                format!(" ({})", crate::local_time::moment(at, tz))
            }
            _ => String::new(),
        };
        push_line(out, &format!("  UNPUBLISHED {total}: {heading}{when}"));
        if let Some(k) = kind {
            let words = format!("fix: {}", fix(k));
            pack_with(out, words.split(' ').map(str::to_owned), " ");
        }
        let same = agents.windows(2).all(|w| w[0].reason == w[1].reason);
        if kind == Some(UnpublishedKind::DeadlinePassed) || (same && agents.len() > 1) {
            if same && kind != Some(UnpublishedKind::DeadlinePassed) {
                push_line(out, &format!("    {}", agents[0].reason));
            }
            pack(out, agents.iter().map(|u| packed(u)));
        } else {
            for u in &agents {
                push_line(out, &format!("    {}: {}", u.agent_id, u.reason));
            }
        }
        more(out, total - agents.len(), "agents of this cause");
    }
}

/// An agent in a packed list: its id, and its swap when the cause is one.
fn packed(u: &UnpublishedAgent) -> String {
    match &u.swap_id {
        Some(swap) => format!("{} (swap {})", u.agent_id, echo(swap)),
        None => u.agent_id.to_string(),
    }
}

/// The one command that runs the week again: it resumes a stopped run,
/// and publishes agents whose cause was fixed; agents already published
/// are not sent again.
fn again(out: &mut String, r: &Report) {
    let end = r.end();
    let fixable = !r.unpublished.is_empty() || !r.still_deferred.is_empty();
    if !(end.resumable() || (fixable && end != RunEnd::DryRun)) {
        return;
    }
    let Some(week) = r.week_start else { return };
    let config = r
        .config
        .as_ref()
        .map(|c| format!(" --config {}", c.display()))
        .unwrap_or_default();
    let command = format!(
        "wfm-publisher publish{config} --target {} --week {week}",
        r.target
    );
    let said = match (end.resumable(), r.config.is_some()) {
        (true, false) => {
            "the daemon resumes it at its next trigger or start; by hand, with the daemon stopped:"
        }
        (true, true) => "to resume (agents already published are not sent again):",
        (false, _) => "to publish them once fixed (agents already published are not sent again):",
    };
    push_line(out, &format!("  {said}"));
    push_line(out, &format!("    {command}"));
}

/// `items` joined by commas, in lines of at most [`WIDTH`] columns.
fn pack(out: &mut String, items: impl Iterator<Item = String>) {
    pack_with(out, items, ", ")
}

/// `items` joined by `separator` (its trailing blank left at a line's
/// end), in lines of at most [`WIDTH`] columns, indented by four.
fn pack_with(out: &mut String, items: impl Iterator<Item = String>, separator: &str) {
    const INDENT: &str = "    ";
    let joint = separator.trim_end();
    let mut line = String::from(INDENT);
    for item in items {
        let first = line.len() == INDENT.len();
        if !first && line.len() + separator.len() + item.len() > WIDTH {
            line.push_str(joint);
            push_line(out, &line);
            line = String::from(INDENT);
        } else if !first {
            line.push_str(separator);
        }
        line.push_str(&item);
    }
    if line.len() > INDENT.len() {
        push_line(out, &line);
    }
}

/// The "and N more" line under a capped list, indented like its items.
fn more(out: &mut String, more: usize, what: &str) {
    if let Some(line) = more_line(more, what) {
        push_line(out, &format!("    {line}"));
    }
}
