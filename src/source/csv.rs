//! `agent_id,date,start,end,activity`, a shift a line, columns in any order,
//! read a record at a time into the week being built.

use std::io::Read;

use super::validate::WeekBuilder;
use super::Row;
use crate::echo::echo;

const COLUMNS: [&str; 5] = ["agent_id", "date", "start", "end", "activity"];

/// Reads every record of `input` into `week`; what cannot be read is
/// reported to it. Returns the reader, so that the caller can drain it.
pub(super) fn read<R: Read>(input: R, week: &mut WeekBuilder<'_>) -> R {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            week.unreadable(Some(1), format!("unreadable header: {e}"));
            return reader.into_inner();
        }
    };
    let Some(index) = columns(&headers, week) else {
        return reader.into_inner();
    };
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                week.unreadable(line, format!("unreadable line: {e}"));
                // A broken quote or bad UTF-8 may not end here: go on to
                // report what follows, as the whole file is checked.
                if matches!(e.kind(), ::csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            let what = format!(
                "{} fields where the header has {}",
                record.len(),
                headers.len()
            );
            week.unreadable(line, what);
            continue;
        }
        let field = |i: usize| record.get(index[i]).unwrap_or_default();
        week.row(&Row {
            line,
            place: "",
            agent: field(0),
            date: field(1),
            start: field(2),
            end: field(3),
            activity: field(4),
        });
    }
    reader.into_inner()
}

/// Where each column is, or None once every header problem is reported.
fn columns(headers: &::csv::StringRecord, week: &mut WeekBuilder<'_>) -> Option<[usize; 5]> {
    let known = COLUMNS.join(", ");
    if !headers.iter().any(|h| COLUMNS.contains(&h)) {
        // Not a schedule at all (a key, a password file): its first line
        // is not repeated, since it may be a secret.
        week.unreadable(
            Some(1),
            format!("not a week's CSV file: its first line names none of the columns {known} (the line is not shown)"),
        );
        return None;
    }
    let mut ok = true;
    for h in headers.iter().filter(|h| !COLUMNS.contains(h)) {
        week.unreadable(
            Some(1),
            format!("unknown column {} (the columns are {known})", echo(h)),
        );
        ok = false;
    }
    let mut index = [0usize; 5];
    for (i, name) in COLUMNS.iter().enumerate() {
        match headers.iter().position(|h| h == *name) {
            Some(at) => index[i] = at,
            None => {
                week.unreadable(Some(1), format!("missing column \"{name}\""));
                ok = false;
            }
        }
    }
    ok.then_some(index)
}
