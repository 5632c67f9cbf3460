//! Exit codes, so that scripts and systemd can tell outcomes apart. The
//! table [`CODES`] is what `--help`, the man page and the docs show.

/// Everything done.
pub const SUCCESS: u8 = 0;
/// Something unexpected: a bug, the machine, the store.
pub const FAILURE: u8 = 1;
/// Refused before anything was sent: bad configuration or input, a failed preflight.
pub const REFUSED: u8 = 2;
/// Done in part: agents left unpublished, with the reasons reported.
pub const PARTIAL: u8 = 3;
/// `publish --dry-run --detailed-exitcode`: publishing would change
/// something on the platform. Not terraform's 2, which here says refused:
/// a script must never take a refusal for changes, or changes for one.
pub const CHANGES: u8 = 4;
/// Failed for a cause that passes (the platform down or failing, its
/// OAuth server unreachable, the machine short of a resource): the run
/// is kept and resumes when run again later. sysexits' EX_TEMPFAIL.
pub const FAILED: u8 = 75;
/// Stopped by SIGINT (Ctrl-C) before the end: 128 + 2, by convention.
/// What was sent finished; the rest resumes at the next run.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM before the end: 128 + 15, by convention.
pub const TERMINATED: u8 = 143;
/// Whoever read the output went away (`| head`): 128 + 13, the exit a shell
/// shows for a command that SIGPIPE ended. Said by no message: the reader
/// chose to stop.
pub const PIPE_CLOSED: u8 = 141;

/// Every exit code with what it means to an operator, in one line each.
pub const CODES: [(u8, &str); 9] = [
    (SUCCESS, "success (the daemon: stopped cleanly by SIGTERM or SIGINT)"),
    (FAILURE, "unexpected failure"),
    (
        REFUSED,
        "refused: bad configuration or input, a failed preflight, or another process publishes from the store",
    ),
    (PARTIAL, "partial: agents left unpublished, with the reasons reported"),
    (
        CHANGES,
        "publish --dry-run --detailed-exitcode: publishing would change the platform (0: it would change nothing)",
    ),
    (
        FAILED,
        "failed for a cause that passes (the platform or its OAuth server down, the machine short of a resource): run it again later, it resumes",
    ),
    (
        INTERRUPTED,
        "interrupted by SIGINT (Ctrl-C): what was sent finished, the rest resumes at the next run",
    ),
    (
        PIPE_CLOSED,
        "the output's reader went away (e.g. `head -c 10`): the command ended there, quietly",
    ),
    (TERMINATED, "stopped by SIGTERM, likewise"),
];

/// The table as `--help` ends with it.
pub fn help() -> String {
    let mut out = String::from("Exit codes:\n");
    for (code, meaning) in CODES {
        out.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    out
}
