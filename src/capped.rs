//! Lists that reach people — problems, unpublished agents — shown up to
//! [`SHOWN`] items, then one line saying how many more. A file of a million
//! bad rows must give a report of fifty problems and a count, not two
//! million lines on stdout, a summary row of 158 MB in the store and a
//! `/status` of the same size on every request.

use std::fmt;
use std::ops::Deref;

use serde::{Serialize, Serializer};

/// Items of a list a report, a stored summary, `/status` or the webhook shows.
pub const SHOWN: usize = 50;

/// The first [`SHOWN`] items pushed, and how many were pushed in all.
/// Derefs to the items kept; [`Capped::len`] is the count in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped<T> {
    items: Vec<T>,
    total: usize,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Capped<T> {
    pub fn push(&mut self, item: T) {
        self.total += 1;
        if self.items.len() < SHOWN {
            self.items.push(item);
        }
    }

    /// How many items were pushed in all, kept or not.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many were pushed beyond those kept.
    pub fn more(&self) -> usize {
        self.total - self.items.len()
    }

    /// The "and N more" line that follows the items kept, if any were left
    /// out; `what` names the items ("problems").
    pub fn more_line(&self, what: &str) -> Option<String> {
        more_line(self.more(), what)
    }
}

impl<T: fmt::Display> Capped<T> {
    /// The items kept, separated by `separator`, then "and N more `what`".
    pub fn joined(&self, separator: &str, what: &str) -> String {
        self.items
            .iter()
            .map(ToString::to_string)
            .chain(self.more_line(what))
            .collect::<Vec<_>>()
            .join(separator)
    }
}

/// "and 999950 more problems", or None when nothing was left out.
pub fn more_line(more: usize, what: &str) -> Option<String> {
    (more > 0).then(|| format!("and {more} more {what}"))
}

impl<T> Deref for Capped<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> FromIterator<T> for Capped<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut capped = Capped::default();
        capped.extend(iter);
        capped
    }
}

impl<T> Extend<T> for Capped<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.push(item);
        }
    }
}

/// As the list of the items kept; the count in all is said beside it.
impl<T: Serialize> Serialize for Capped<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(serializer)
    }
}

/// The first [`SHOWN`] of `lines`, one a line, then "and N more `what`".
pub fn lines<I>(lines: I, what: &str) -> String
where
    I: IntoIterator,
    I::Item: fmt::Display,
{
    let mut out = String::new();
    let mut more = 0;
    for (i, line) in lines.into_iter().enumerate() {
        if i < SHOWN {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&line.to_string());
        } else {
            more += 1;
        }
    }
    if let Some(line) = more_line(more, what) {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_fifty_and_counts_all() {
        let capped: Capped<usize> = (0..1_000_000).collect();
        assert_eq!(capped.len(), 1_000_000);
        assert_eq!(&capped[..3], &[0, 1, 2]);
        assert_eq!(capped.iter().count(), SHOWN);
        assert_eq!(capped.more(), 1_000_000 - SHOWN);
        assert_eq!(
            capped.more_line("problems").as_deref(),
            Some("and 999950 more problems")
        );
        assert_eq!(
            serde_json::to_value(&capped)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            SHOWN
        );
    }

    #[test]
    fn a_short_list_is_whole() {
        let capped: Capped<&str> = ["a", "b"].into_iter().collect();
        assert_eq!(capped.len(), 2);
        assert_eq!(capped.more_line("problems"), None);
        assert_eq!(lines(["a", "b"], "problems"), "a\nb");
    }

    #[test]
    fn a_capped_list_says_how_many_it_left_out() {
        let capped: Capped<usize> = (0..51).collect();
        assert!(capped
            .joined("\n", "problems")
            .ends_with("\n49\nand 1 more problems"));
    }

    #[test]
    fn lines_end_with_the_count_left_out() {
        let text = lines(0..120, "problems");
        assert_eq!(text.lines().count(), SHOWN + 1);
        assert!(text.ends_with("\n49\nand 70 more problems"), "{text}");
    }
}
