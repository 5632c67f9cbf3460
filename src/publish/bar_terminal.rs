//! The terminal the progress bar draws on: stderr, two columns narrower
//! than it is.
//!
//! indicatif pads each line of the bar to the terminal's width and leaves
//! the cursor past the last column, waiting to wrap. Whatever the terminal
//! itself writes there lands on a line of its own: the `^C` it echoes when
//! a person presses Ctrl-C does. The bar's next clear, counting its own
//! lines only, then starts one line too low, and the bar's top line stayed
//! on the screen above the report. Two spare columns hold the echo on the
//! bar's last line, which the next clear wipes.

use std::io;

use console::Term;
use indicatif::{ProgressDrawTarget, TermLike};

/// Columns the bar leaves free at the right: room for `^C`.
const ECHO_ROOM: u16 = 2;

/// How often the bar is drawn at most, as indicatif's own stderr target.
const REFRESH_PER_SECOND: u8 = 20;

/// The bar's draw target: buffered stderr with room for the echo.
pub(super) fn stderr() -> ProgressDrawTarget {
    ProgressDrawTarget::term_like_with_hz(
        Box::new(WithEchoRoom(Term::buffered_stderr())),
        REFRESH_PER_SECOND,
    )
}

#[derive(Debug)]
struct WithEchoRoom(Term);

impl TermLike for WithEchoRoom {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(ECHO_ROOM).max(1)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}
