//! `mindset`: one binary for every Mindset command. See `mindset --help`.

/// mimalloc: the ingest paths allocate many small strings per event, where glibc's malloc spent
/// about a quarter of the server's time (docs/BENCHMARKS.md, track API ingest).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mindset::cli::main()
}
