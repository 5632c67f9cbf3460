//! While the progress bar is drawn, a Ctrl-C must not echo `^C`.
//!
//! The bar pads each of its lines to the terminal's width, so the cursor
//! rests in the last column; the terminal's `^C` then wraps onto a line of
//! its own, one below where the bar believes the cursor is, and the bar,
//! clearing itself from there, leaves its first line on the screen above
//! the report (seen in tmux at 160 columns). With `ECHOCTL` off the
//! terminal echoes the interrupt as the bare control character, which
//! draws nothing; the setting is put back when the bar goes. A process
//! killed outright leaves it off: shells restore their terminal's modes
//! after a job killed by a signal.
//!
//! Only a process in the terminal's foreground changes it: from the
//! background, changing a terminal's modes stops the process (SIGTTOU).

use std::io::IsTerminal;

use rustix::process::getpgrp;
use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, LocalModes, OptionalActions};

/// `ECHOCTL` turned off on stderr's terminal, until dropped.
pub struct QuietCtrlC {
    /// Whether this turned it off (it was on, on a terminal).
    turned_off: bool,
}

impl QuietCtrlC {
    pub fn new() -> Self {
        QuietCtrlC {
            turned_off: set_echoctl(false),
        }
    }
}

impl Drop for QuietCtrlC {
    fn drop(&mut self) {
        if self.turned_off {
            set_echoctl(true);
        }
    }
}

/// Sets `ECHOCTL` on stderr's terminal to `on`; whether it changed it.
/// Only that flag is touched: the rest may have been changed meanwhile.
fn set_echoctl(on: bool) -> bool {
    let stderr = std::io::stderr();
    if !stderr.is_terminal() || tcgetpgrp(&stderr).ok() != Some(getpgrp()) {
        return false;
    }
    let Ok(mut modes) = tcgetattr(&stderr) else {
        return false;
    };
    if modes.local_modes.contains(LocalModes::ECHOCTL) == on {
        return false;
    }
    modes.local_modes.set(LocalModes::ECHOCTL, on);
    tcsetattr(&stderr, OptionalActions::Now, &modes).is_ok()
}
