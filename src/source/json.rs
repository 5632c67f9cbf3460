//! `{"agents": [{"agentId": "a-1", "shifts": [{"date", "start", "end", "activity"}]}]}`.
//!
//! serde_json keeps no positions for values, so the line of each agent is
//! found by its `"agentId"` key in the text; problems name the JSON path too.

use serde::Deserialize;

use super::{Parsed, Row};
use crate::echo::echo_message;

type Problems = Vec<(Option<usize>, String)>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    agents: Vec<Agent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Agent {
    agent_id: String,
    #[serde(default)]
    shifts: Vec<ShiftIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftIn {
    date: String,
    start: String,
    end: String,
    activity: String,
}

/// The 1-based line of each `"agentId"` key, in order.
fn agent_lines(text: &str) -> Vec<usize> {
    text.match_indices("\"agentId\"")
        .map(|(at, _)| text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
        .collect()
}

pub(super) fn parse(text: &str) -> Result<Parsed, Problems> {
    let file: File = serde_json::from_str(text).map_err(|e| {
        vec![(
            (e.line() > 0).then_some(e.line()),
            format!("not a week in JSON: {}", echo_message(&e.to_string())),
        )]
    })?;
    let lines = agent_lines(text);
    let mut parsed = Parsed::default();
    for (i, agent) in file.agents.into_iter().enumerate() {
        let line = lines.get(i).copied();
        parsed.agents.push((agent.agent_id.clone(), line));
        for (j, s) in agent.shifts.into_iter().enumerate() {
            parsed.rows.push(Row {
                line,
                place: format!("agents[{i}].shifts[{j}]: "),
                agent: agent.agent_id.clone(),
                date: s.date,
                start: s.start,
                end: s.end,
                activity: s.activity,
            });
        }
    }
    Ok(parsed)
}
