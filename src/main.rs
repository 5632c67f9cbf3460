// jemalloc, not glibc's malloc: at 50,000 agents and 256 connections glibc
// kept 68 MB resident for a 38 MB heap peak (its per-thread arenas hold on
// to the freed plan and connection buffers), mimalloc 78 MB, jemalloc with
// one arena 59 MB (docs/BENCHMARKS.md). The library leaves the choice to
// the binary.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (`_RJEM_MALLOC_CONF` overrides
/// them). One arena: with writes on every core, jemalloc's default of four
/// per core left 70 MB resident at 50,000 agents, one arena 59 MB; the
/// calls in flight are too few to contend for it.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&u8> = Some(&b"narenas:1\0"[0]);

fn main() -> std::process::ExitCode {
    // First, before any secret is read: a core dump (or a ptrace by another
    // process of the same user) would hold the client secret, the admin
    // token and the database password. Not dumpable also makes /proc/PID's
    // files root's.
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    wfm_publisher::cli::main()
}
