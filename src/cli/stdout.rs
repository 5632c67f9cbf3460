//! Everything the commands print on stdout goes through here: a reader
//! that went away (`| head -c 10`) ends the command quietly with
//! [`exit::PIPE_CLOSED`](super::exit::PIPE_CLOSED), where `println!` would
//! panic (Rust ignores SIGPIPE, so the write fails with `BrokenPipe`).

use std::io::Write;

/// Stdout's reader is gone: nothing more is worth printing.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct Closed;

/// Writes `text` and flushes it, so that a closed pipe is found here and
/// not at exit. Another failure (a full disk) is an error with its cause.
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// `text` and a newline.
pub fn line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    write(&format!("{text}\n"))
}

/// The exit of a command that ended with `error`: a closed stdout's quietly.
pub fn closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Closed>())
}
