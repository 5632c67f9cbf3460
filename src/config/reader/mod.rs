//! The error-collecting walker over the layered `config::Value` tree.
//!
//! Serde's derive stops at the first error and forgets where a value came
//! from; this walker instead reads one key at a time, records a located
//! [`Problem`] for each failure and keeps going, and removes every key it
//! reads so that whatever is left in a table at the end is an unknown key.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use config::{Value, ValueKind};
use serde::de::DeserializeOwned;

use super::error::Problem;

/// The label the `config` crate gives every value from `Environment`.
const ENV_ORIGIN: &str = "the environment";
pub(crate) const ENV_PREFIX: &str = "WFM_PUBLISHER";
pub(crate) const ENV_SEPARATOR: &str = "__";

/// Where a value was set, so a problem can say what to edit.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    File,
    Env(String),
}

/// Shared state of one load: the file, the environment and the problems.
pub(crate) struct Reader {
    file: PathBuf,
    env: HashMap<String, String>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Every key looked up, present or not, by its full name: what the
    /// loader accepts, which the configuration reference must cover.
    consulted: Vec<String>,
}

impl Reader {
    pub fn new(file: &Path, env: HashMap<String, String>) -> Self {
        Reader {
            file: file.to_path_buf(),
            env,
            problems: Vec::new(),
            warnings: Vec::new(),
            consulted: Vec::new(),
        }
    }

    /// Every key looked up so far, in the order asked.
    #[cfg(test)]
    pub fn consulted(&self) -> &[String] {
        &self.consulted
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    /// What was worked around so far (e.g. a secret file unreadable, its
    /// systemd credential used instead).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    pub fn report(&mut self, origin: &Origin, key: &str, message: impl Into<String>) {
        let origin = self.locate(origin);
        self.problems.push(Problem::new(origin, key, message));
    }

    /// Like [`Reader::report`] for a problem that was worked around: it does
    /// not fail the load.
    pub fn warn(&mut self, origin: &Origin, key: &str, message: impl Into<String>) {
        let origin = self.locate(origin);
        self.warnings.push(Problem::new(origin, key, message));
    }

    fn locate(&self, origin: &Origin) -> String {
        match origin {
            Origin::File => self.file.display().to_string(),
            Origin::Env(var) => var.clone(),
        }
    }

    /// The variable that overrides `key`, spelled as the operator spelled it
    /// (the `config` crate lower-cases names, so they are looked up again).
    pub fn env_var_for(&self, key: &str) -> String {
        let wanted = format!(
            "{ENV_PREFIX}{ENV_SEPARATOR}{}",
            key.replace('.', ENV_SEPARATOR)
        )
        .to_uppercase();
        self.env
            .keys()
            .find(|k| k.to_uppercase() == wanted)
            .cloned()
            .unwrap_or(wanted)
    }

    fn origin_of(&self, value: &Value, key: &str) -> Origin {
        if value.origin() == Some(ENV_ORIGIN) {
            Origin::Env(self.env_var_for(key))
        } else {
            Origin::File
        }
    }

    /// Reports an unread value. The `config` crate's merge gives every table
    /// an empty origin, so a table is attributed by its leaves: one only
    /// overrides built is reported variable by variable; one from the file is
    /// reported once, as the whole stray section.
    fn unknown(&mut self, key: &str, value: Value, hint: Option<&str>) {
        if !from_file(&value) {
            if let ValueKind::Table(map) = value.kind {
                for (k, v) in sorted(map) {
                    self.unknown(&format!("{key}.{k}"), v, None);
                }
                return;
            }
        }
        let origin = self.origin_of(&value, key);
        let message = match hint {
            Some(h) => format!("unknown key (did you mean `{h}`?)"),
            None => "unknown key".to_string(),
        };
        self.report(&origin, key, message);
    }
}

/// The outcome of reading one key.
#[derive(Debug)]
pub(crate) enum Field<T> {
    Absent,
    /// Present but unusable; the problem is already recorded.
    Invalid,
    Present(T),
}

impl<T> Field<T> {
    /// `None` only when invalid, so callers can `?` after reading every key.
    pub fn or(self, default: T) -> Option<T> {
        match self {
            Field::Absent => Some(default),
            Field::Invalid => None,
            Field::Present(v) => Some(v),
        }
    }

    /// For optional keys: `Some(None)` when absent, `None` when invalid.
    pub fn optional(self) -> Option<Option<T>> {
        match self {
            Field::Absent => Some(None),
            Field::Invalid => None,
            Field::Present(v) => Some(Some(v)),
        }
    }
}

/// One value taken out of a table, with its location.
struct Leaf {
    key: String,
    origin: Origin,
    value: Value,
    /// The override's text as set: `try_parsing` turns `007` into `7`, which
    /// must not happen to a client id or a secret.
    raw: Option<String>,
}

/// A table being read. Keys are removed as they are read.
pub(crate) struct Table {
    path: String,
    entries: BTreeMap<String, Value>,
    /// Where each key read so far came from, for checks made after reading.
    taken: HashMap<String, Origin>,
    /// Keys this table understands, for "did you mean" hints.
    known: Vec<&'static str>,
    /// The table itself had the wrong type (already reported): its missing
    /// keys are a consequence, not news.
    broken: bool,
}

impl Table {
    pub fn root(value: Value) -> Self {
        let entries = match value.kind {
            ValueKind::Table(map) => sorted(map),
            _ => BTreeMap::new(),
        };
        Table::with(String::new(), entries, false)
    }

    fn with(path: String, entries: BTreeMap<String, Value>, broken: bool) -> Self {
        Table {
            path,
            entries,
            taken: HashMap::new(),
            known: Vec::new(),
            broken,
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn take(&mut self, r: &mut Reader, name: &'static str) -> Option<Leaf> {
        self.known.push(name);
        r.consulted.push(self.key(name));
        let value = self.entries.remove(name)?;
        let key = self.key(name);
        let origin = r.origin_of(&value, &key);
        let raw = match &origin {
            Origin::Env(var) => r.env.get(var).cloned(),
            Origin::File => None,
        };
        self.taken.insert(name.to_string(), origin.clone());
        Some(Leaf {
            key,
            origin,
            value,
            raw,
        })
    }

    /// Reports a problem with an already-read key, at the place it was set.
    pub fn problem(&self, r: &mut Reader, name: &str, message: impl Into<String>) {
        let origin = self.taken.get(name).cloned().unwrap_or(Origin::File);
        r.report(&origin, &self.key(name), message);
    }

    /// Records something wrong with an already-read key that was worked
    /// around, at the place it was set: it does not fail the load.
    pub fn warning(&self, r: &mut Reader, name: &str, message: impl Into<String>) {
        let origin = self.taken.get(name).cloned().unwrap_or(Origin::File);
        r.warn(&origin, &self.key(name), message);
    }

    /// A required key: reports it missing when absent.
    pub fn require<T>(&self, r: &mut Reader, name: &str, field: Field<T>) -> Option<T> {
        match field {
            Field::Present(v) => Some(v),
            Field::Invalid => None,
            Field::Absent => {
                if !self.broken {
                    r.report(&Origin::File, &self.key(name), "missing required key");
                }
                None
            }
        }
    }

    /// A sub-table; absent reads as empty so its defaults apply.
    pub fn table(&mut self, r: &mut Reader, name: &'static str) -> Table {
        let key = self.key(name);
        match self.take(r, name) {
            None => Table::with(key, BTreeMap::new(), self.broken),
            Some(leaf) => leaf_table(r, leaf),
        }
    }

    /// Every entry as a sub-table, for tables keyed by user-chosen names.
    pub fn children(&mut self, r: &mut Reader) -> Vec<(String, Table)> {
        let entries = std::mem::take(&mut self.entries);
        entries
            .into_iter()
            .map(|(name, value)| {
                let key = self.key(&name);
                let origin = r.origin_of(&value, &key);
                self.taken.insert(name.clone(), origin.clone());
                let leaf = Leaf {
                    key,
                    origin,
                    value,
                    raw: None,
                };
                (name, leaf_table(r, leaf))
            })
            .collect()
    }

    /// Every entry as a string, for tables mapping user-chosen names to
    /// text; None after reporting every entry that is not a string.
    pub fn string_map(&mut self, r: &mut Reader) -> Option<BTreeMap<String, String>> {
        let entries = std::mem::take(&mut self.entries);
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (name, value) in entries {
            let key = self.key(&name);
            let origin = r.origin_of(&value, &key);
            self.taken.insert(name.clone(), origin.clone());
            match value.kind {
                ValueKind::String(s) if !s.trim().is_empty() => {
                    out.insert(name, s);
                }
                ref other => {
                    let msg = format!(
                        "expected a non-empty string, found {}",
                        describe(other, true)
                    );
                    r.report(&origin, &key, msg);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A string. Numbers and booleans are type errors in the file; from the
    /// environment everything is text, so the variable's text is used.
    pub fn string(&mut self, r: &mut Reader, name: &'static str) -> Field<String> {
        self.string_leaf(r, name, true)
    }

    /// Like [`Table::string`] but never quotes the value in a message.
    pub fn secret_string(&mut self, r: &mut Reader, name: &'static str) -> Field<String> {
        self.string_leaf(r, name, false)
    }

    fn string_leaf(&mut self, r: &mut Reader, name: &'static str, reveal: bool) -> Field<String> {
        let Some(leaf) = self.take(r, name) else {
            return Field::Absent;
        };
        if let Some(raw) = leaf.raw {
            return Field::Present(raw);
        }
        match leaf.value.kind {
            ValueKind::String(s) => Field::Present(s),
            ref other => {
                let msg = format!("expected a string, found {}", describe(other, reveal));
                r.report(&leaf.origin, &leaf.key, msg);
                Field::Invalid
            }
        }
    }

    /// A string turned into `T` by `parse`, whose error becomes the message.
    pub fn parsed<T>(
        &mut self,
        r: &mut Reader,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Field<T> {
        match self.string(r, name) {
            Field::Present(s) => match parse(&s) {
                Ok(v) => Field::Present(v),
                Err(msg) => {
                    self.problem(r, name, msg);
                    Field::Invalid
                }
            },
            Field::Absent => Field::Absent,
            Field::Invalid => Field::Invalid,
        }
    }

    pub fn bool(&mut self, r: &mut Reader, name: &'static str) -> Field<bool> {
        let Some(leaf) = self.take(r, name) else {
            return Field::Absent;
        };
        match leaf.value.kind {
            ValueKind::Boolean(b) => Field::Present(b),
            ref other => {
                let msg = format!("expected true or false, found {}", describe(other, true));
                r.report(&leaf.origin, &leaf.key, msg);
                Field::Invalid
            }
        }
    }

    /// An integer in `min..=max`, deserialized into `T` from the value so the
    /// `config` crate's own conversion decides what fits.
    pub fn integer<T: DeserializeOwned>(
        &mut self,
        r: &mut Reader,
        name: &'static str,
        min: i64,
        max: i64,
    ) -> Field<T> {
        let Some(leaf) = self.take(r, name) else {
            return Field::Absent;
        };
        let n = match leaf.value.kind {
            ValueKind::I64(n) => n,
            ValueKind::U64(n) => i64::try_from(n).unwrap_or(i64::MAX),
            ref other => {
                let msg = format!("expected an integer, found {}", describe(other, true));
                r.report(&leaf.origin, &leaf.key, msg);
                return Field::Invalid;
            }
        };
        if n < min || n > max {
            let msg = format!("{n} is out of range: must be between {min} and {max}");
            r.report(&leaf.origin, &leaf.key, msg);
            return Field::Invalid;
        }
        match leaf.value.try_deserialize::<T>() {
            Ok(v) => Field::Present(v),
            Err(e) => {
                r.report(&leaf.origin, &leaf.key, flatten(&e.to_string()));
                Field::Invalid
            }
        }
    }

    /// A list of strings. An override cannot carry a TOML array, so from the
    /// environment a comma-separated string is accepted.
    pub fn strings(&mut self, r: &mut Reader, name: &'static str) -> Field<Vec<String>> {
        let Some(leaf) = self.take(r, name) else {
            return Field::Absent;
        };
        if let Some(raw) = leaf.raw {
            let items = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            return Field::Present(items);
        }
        let ValueKind::Array(items) = leaf.value.kind else {
            let msg = format!(
                "expected a list of strings, found {}",
                describe(&leaf.value.kind, true)
            );
            r.report(&leaf.origin, &leaf.key, msg);
            return Field::Invalid;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match item.kind {
                ValueKind::String(s) => out.push(s),
                ref other => {
                    let msg = format!("expected a string, found {}", describe(other, true));
                    r.report(&leaf.origin, &format!("{}[{i}]", leaf.key), msg);
                    ok = false;
                }
            }
        }
        if ok {
            Field::Present(out)
        } else {
            Field::Invalid
        }
    }

    /// Reports every key nobody read.
    pub fn finish(self, r: &mut Reader) {
        for (name, value) in self.entries {
            let hint = suggest(&name, &self.known);
            let key = if self.path.is_empty() {
                name
            } else {
                format!("{}.{name}", self.path)
            };
            r.unknown(&key, value, hint);
        }
    }
}

fn leaf_table(r: &mut Reader, leaf: Leaf) -> Table {
    match leaf.value.kind {
        ValueKind::Table(map) => Table::with(leaf.key, sorted(map), false),
        ref other => {
            let msg = format!("expected a table, found {}", describe(other, true));
            r.report(&leaf.origin, &leaf.key, msg);
            Table::with(leaf.key, BTreeMap::new(), true)
        }
    }
}

/// Whether any part of `value` was set in the file (an empty table can only
/// have come from there).
fn from_file(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Table(map) => map.is_empty() || map.values().any(from_file),
        _ => value.origin() != Some(ENV_ORIGIN),
    }
}

/// Deterministic order, so the same mistakes always print the same way.
fn sorted(map: config::Map<String, Value>) -> BTreeMap<String, Value> {
    map.into_iter().collect()
}

fn describe(kind: &ValueKind, reveal: bool) -> String {
    let (what, shown) = match kind {
        ValueKind::Nil => return "nothing".into(),
        ValueKind::Boolean(b) => ("boolean", b.to_string()),
        ValueKind::I64(n) => ("integer", n.to_string()),
        ValueKind::I128(n) => ("integer", n.to_string()),
        ValueKind::U64(n) => ("integer", n.to_string()),
        ValueKind::U128(n) => ("integer", n.to_string()),
        ValueKind::Float(n) => ("float", n.to_string()),
        ValueKind::String(s) => ("string", crate::echo::echo(s).to_string()),
        ValueKind::Table(_) => return "a table".into(),
        ValueKind::Array(_) => return "a list".into(),
    };
    if reveal {
        format!("{what} {shown}")
    } else {
        format!("a value of type {what}")
    }
}

/// Some upstream messages span lines; a problem must fit on one, and what
/// they quote of the file is escaped and cut like any input.
pub(crate) fn flatten(message: &str) -> String {
    let joined = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    crate::echo::echo_message(&joined)
}

/// The known key closest to a typo, if it is close enough to be the intent.
fn suggest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
