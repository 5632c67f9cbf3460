//! Text from outside — a source file's cells and column names, a
//! configuration value, a field of the platform's answer — as a one-line
//! message may show it: quoted, cut to about 80 characters and escaped.
//! A file can hold anything: a newline would forge a second report line, an
//! ANSI escape would rewrite the operator's terminal, and a long line (or a
//! secret file read by mistake) has no place in a log. Every message that
//! repeats input goes through [`echo`].

use std::borrow::Cow;
use std::fmt;

/// Characters of input a message shows; the rest is cut, with an ellipsis.
pub const MAX_CHARS: usize = 80;

/// `text`, quoted and escaped as Rust's `{:?}` does (`\n`, `\u{1b}`, `\"`),
/// cut after [`MAX_CHARS`] characters: `"phone"`, `"a\nb"`, `"aaaa…"`.
pub fn echo<T: AsRef<str> + ?Sized>(text: &T) -> Echo<'_> {
    Echo(text.as_ref())
}

/// See [`echo`]; formats without allocating the whole input.
#[derive(Clone, Copy)]
pub struct Echo<'a>(&'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => {
                let shown = format!("{:?}", &self.0[..cut]);
                // The closing quote after the ellipsis: the cut is visible
                // and the value still reads as one quoted string.
                write!(f, "{}…\"", &shown[..shown.len() - 1])
            }
        }
    }
}

/// Characters of a message another library wrote about input (serde's
/// "unknown field `…`, expected …"), which may quote that input.
pub const MAX_MESSAGE_CHARS: usize = 2 * MAX_CHARS;

/// Such a message, escaped like [`echo`] but not quoted, and cut after
/// [`MAX_MESSAGE_CHARS`] characters.
pub fn echo_message(text: &str) -> String {
    let cut = text
        .char_indices()
        .nth(MAX_MESSAGE_CHARS)
        .map_or(text.len(), |(at, _)| at);
    // Quotes stay as written: serde quotes the input it names.
    let mut shown = String::with_capacity(cut);
    for c in text[..cut].chars() {
        match c {
            '"' | '\'' | '\\' => shown.push(c),
            c => shown.extend(c.escape_debug()),
        }
    }
    if cut < text.len() {
        shown.push('…');
    }
    shown
}

/// A line this program composed from parts of many origins (a report's
/// line, a reason kept in the store), kept one line where it is printed:
/// control and invisible formatting characters escaped as `{:?}` does,
/// nothing quoted or cut. The last guard of printed reports; each part
/// from outside still goes through [`echo`] where it is put in.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let forging = |c: char| c.is_control() || crate::domain::plan::is_invisible_format(c);
    if !text.chars().any(forging) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match forging(c) {
            true => shown.extend(c.escape_debug()),
            false => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// Adds `text` to `out` as one line ([`one_line`]): whatever a part of it
/// holds (a platform's message, a reason read back from the store), no
/// newline or escape in it can start another line or rewrite the terminal.
pub fn push_line(out: &mut String, text: &str) {
    out.push_str(&one_line(text));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_like_debug() {
        assert_eq!(echo("phone").to_string(), "\"phone\"");
        assert_eq!(echo("say \"hi\"").to_string(), r#""say \"hi\"""#);
    }

    #[test]
    fn no_newline_control_character_or_escape_survives() {
        let shown = echo("a\nb\r\u{1b}[31mred\u{7}\u{202e}").to_string();
        assert_eq!(shown, r#""a\nb\r\u{1b}[31mred\u{7}\u{202e}""#);
        assert!(!shown.chars().any(char::is_control), "{shown}");
    }

    #[test]
    fn long_text_is_cut_after_80_characters_with_an_ellipsis() {
        let long = "é".repeat(10_000);
        let shown = echo(&long).to_string();
        assert_eq!(shown, format!("\"{}…\"", "é".repeat(MAX_CHARS)));
    }

    #[test]
    fn a_message_about_input_is_escaped_and_cut_but_not_quoted() {
        let message = format!("unknown field `\u{1b}]0;x\n{}`", "k".repeat(500));
        let shown = echo_message(&message);
        assert!(
            shown.starts_with("unknown field `\\u{1b}]0;x\\n"),
            "{shown}"
        );
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(
            shown.ends_with('…') && shown.chars().count() < 200,
            "{shown}"
        );
        assert_eq!(echo_message("string \"it's\""), "string \"it's\"");
    }

    #[test]
    fn a_composed_line_stays_one_line_and_is_otherwise_untouched() {
        let line = "swap \"sw-1\" denied: a-1 \\ ok";
        assert!(matches!(one_line(line), Cow::Borrowed(_)));
        let forged = format!(
            "{}\n  published: 9 agents\u{1b}[2J\u{202e}",
            "é".repeat(200)
        );
        let shown = one_line(&forged);
        assert_eq!(
            shown,
            format!(
                "{}\\n  published: 9 agents\\u{{1b}}[2J\\u{{202e}}",
                "é".repeat(200)
            )
        );
        assert_eq!(one_line(&shown), shown, "escaping twice changes nothing");
    }

    #[test]
    fn text_of_exactly_the_limit_is_not_cut() {
        let text = "x".repeat(MAX_CHARS);
        assert_eq!(echo(&text).to_string(), format!("\"{text}\""));
    }
}
