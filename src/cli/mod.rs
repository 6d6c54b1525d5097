//! placeholder (store branch stub): clap commands; replaced at merge by the real `cli` module.

pub mod cdr;

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
