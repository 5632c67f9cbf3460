//! `agent_id,date,start,end,activity`, a shift a line, columns in any order.

use super::{Parsed, Row};
use crate::echo::echo;

const COLUMNS: [&str; 5] = ["agent_id", "date", "start", "end", "activity"];

type Problems = Vec<(Option<usize>, String)>;

pub(super) fn parse(text: &str) -> Result<Parsed, Problems> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![(Some(1), format!("unreadable header: {e}"))])?
        .clone();
    let index = column_index(&headers)?;
    let mut problems = Problems::new();
    let mut parsed = Parsed::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                problems.push((line, format!("unreadable line: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push((
                line,
                format!(
                    "{} fields where the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let field = |i: usize| record.get(index[i]).unwrap_or_default().to_owned();
        parsed.rows.push(Row {
            line,
            place: String::new(),
            agent: field(0),
            date: field(1),
            start: field(2),
            end: field(3),
            activity: field(4),
        });
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

/// Where each of [`COLUMNS`] is in the header, or the header's problems.
fn column_index(headers: &::csv::StringRecord) -> Result<[usize; 5], Problems> {
    if !headers.iter().any(|h| COLUMNS.contains(&h)) {
        // Not a schedule at all (a key, a password file): its first line
        // is not repeated, since it may be a secret.
        return Err(vec![(
            Some(1),
            format!(
                "not a week's CSV file: its first line names none of the columns {} (the line is not shown)",
                COLUMNS.join(", ")
            ),
        )]);
    }
    let mut problems = Problems::new();
    for h in headers.iter().filter(|h| !COLUMNS.contains(h)) {
        problems.push((
            Some(1),
            format!(
                "unknown column {} (the columns are {})",
                echo(h),
                COLUMNS.join(", ")
            ),
        ));
    }
    let mut index = [0usize; 5];
    for (i, name) in COLUMNS.iter().enumerate() {
        match headers.iter().position(|h| h == *name) {
            Some(at) => index[i] = at,
            None => problems.push((Some(1), format!("missing column \"{name}\""))),
        }
    }
    match problems.is_empty() {
        true => Ok(index),
        false => Err(problems),
    }
}
