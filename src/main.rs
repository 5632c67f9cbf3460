// jemalloc, not glibc's malloc: at 50,000 agents and 256 connections glibc
// kept 68 MB resident for a 38 MB heap peak (its per-thread arenas hold on
// to the freed plan and connection buffers), jemalloc 62 MB, mimalloc 78 MB
// (docs/BENCHMARKS.md). The library leaves the choice to the binary.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    wfm_publisher::cli::main()
}
