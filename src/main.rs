//! CLI entry point: parse arguments, run the chosen command, map failures to exit codes.

use std::process::ExitCode;

/// mimalloc instead of glibc malloc for the daemon: the SIP core allocates and frees many
/// short-lived message buffers per call, and under load glibc spent about 17 % of all CPU in
/// `malloc`/`free`/`malloc_consolidate` (perf, 3 000 calls/s; see README "Performance").
/// Built without transparent huge pages (`no_thp`): with them the kernel zeroed whole 2 MiB
/// pages for sparsely used arenas, ~15 % of CPU in `clear_page_erms` at 4 000 calls/s.
/// The `system-allocator` feature keeps glibc's `malloc` instead, so that heap profilers that
/// interpose it (`heaptrack`, see `benches/memory_rate.sh heap`) see every allocation.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    calltrack::cli::main()
}
