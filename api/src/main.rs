//! `mindset`: one binary for every Mindset command. See `mindset --help`.

fn main() -> std::process::ExitCode {
    mindset::cli::main()
}
