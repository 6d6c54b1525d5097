//! CLI entry point: parse arguments, run the chosen command, map failures to exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    calltrack::cli::main()
}
