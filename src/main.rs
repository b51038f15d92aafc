//! The `sundown` binary: parse arguments, start logging, call `sundown::run`,
//! print an error once and map it to the documented exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use sundown::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(sundown::exit::FAILED);
        }
    };
    match runtime.block_on(sundown::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            sundown::exit::code_for(&err)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,sundown=info",
        1 => "info,sundown=debug",
        _ => "debug,sundown=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUNDOWN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Progress for people: no timestamps (CI adds its own), colour only on a terminal.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}
