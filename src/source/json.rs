//! `{"agents": [{"agentId": "a-1", "shifts": [{"date", "start", "end", "activity"}]}]}`,
//! read an agent at a time into the week being built.
//!
//! serde_json keeps no positions for values, so the reader under it counts
//! the lines it has handed over: an agent's line is the line of its
//! `"agentId"` key. Problems name the JSON path too.

use std::cell::Cell;
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::validate::WeekBuilder;
use super::Row;
use crate::echo::echo_message;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftIn {
    date: String,
    start: String,
    end: String,
    activity: String,
}

/// A reader that counts the line breaks it has passed on.
struct Lines<'c, R> {
    inner: R,
    breaks: &'c Cell<usize>,
}

impl<R: Read> Read for Lines<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let breaks = buf[..n].iter().filter(|b| **b == b'\n').count();
        self.breaks.set(self.breaks.get() + breaks);
        Ok(n)
    }
}

/// Reads the week in `input` (which should be buffered) into `week`; what
/// cannot be read is reported to it. Returns the reader, so that the
/// caller can drain it.
pub(super) fn read<R: Read>(input: R, week: &mut WeekBuilder<'_>) -> R {
    let breaks = Cell::new(0);
    let mut lines = Lines {
        inner: input,
        breaks: &breaks,
    };
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut lines);
        let file = FileSeed {
            week: &mut *week,
            breaks: &breaks,
        };
        file.deserialize(&mut de).and_then(|()| de.end())
    };
    if let Err(e) = result {
        let line = (e.line() > 0).then_some(e.line());
        week.unreadable(
            line,
            format!("not a week in JSON: {}", echo_message(&e.to_string())),
        );
    }
    lines.inner
}

struct FileSeed<'w, 'b, 'c> {
    week: &'w mut WeekBuilder<'b>,
    breaks: &'c Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"agents\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "agents" {
                return Err(de::Error::unknown_field(&key, &["agents"]));
            }
            if seen {
                return Err(de::Error::duplicate_field("agents"));
            }
            seen = true;
            map.next_value_seed(AgentsSeed {
                week: &mut *self.week,
                breaks: self.breaks,
            })?;
        }
        if !seen {
            return Err(de::Error::missing_field("agents"));
        }
        Ok(())
    }
}

struct AgentsSeed<'w, 'b, 'c> {
    week: &'w mut WeekBuilder<'b>,
    breaks: &'c Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for AgentsSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AgentsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of agents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let agent = AgentSeed {
                breaks: self.breaks,
            };
            let Some((id, line, shifts)) = seq.next_element_seed(agent)? else {
                return Ok(());
            };
            self.week.agent(&id, line);
            for (j, s) in shifts.iter().enumerate() {
                let place = format!("agents[{index}].shifts[{j}]: ");
                self.week.row(&Row {
                    line,
                    place: &place,
                    agent: &id,
                    date: &s.date,
                    start: &s.start,
                    end: &s.end,
                    activity: &s.activity,
                });
            }
            index += 1;
        }
    }
}

/// One agent: its id, the line of its `"agentId"` key, its shifts.
struct AgentSeed<'c> {
    breaks: &'c Cell<usize>,
}

type AgentIn = (String, Option<usize>, Vec<ShiftIn>);

impl<'de> DeserializeSeed<'de> for AgentSeed<'_> {
    type Value = AgentIn;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<AgentIn, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AgentSeed<'_> {
    type Value = AgentIn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an agent with \"agentId\" and \"shifts\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AgentIn, A::Error> {
        const FIELDS: &[&str] = &["agentId", "shifts"];
        let (mut id, mut line, mut shifts) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "agentId" if id.is_some() => return Err(de::Error::duplicate_field("agentId")),
                "shifts" if shifts.is_some() => return Err(de::Error::duplicate_field("shifts")),
                "agentId" => {
                    line = Some(self.breaks.get() + 1);
                    id = Some(map.next_value::<String>()?);
                }
                "shifts" => shifts = Some(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("agentId"))?;
        Ok((id, line, shifts.unwrap_or_default()))
    }
}
