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
    wfm_publisher::cli::main()
}
