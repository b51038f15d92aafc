//! The `sundown` binary: parse arguments, start logging, call `sundown::cli::run`,
//! print an error once and map it to the documented exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use sundown::cli::Cli;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(sundown::exit::FAILED);
        }
    };
    #[cfg(feature = "lambda")]
    if sundown::lambda::detected() {
        init_logging(0, true);
        return match runtime.block_on(sundown::lambda::serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(sundown::exit::FAILED)
            }
        };
    }
    if sundown::action::detected() {
        // As the Action: logs on stdout, so they interleave with the workflow commands in order.
        init_logging(0, true);
        return runtime.block_on(sundown::action::main());
    }
    let cli = Cli::parse();
    init_logging(cli.verbose, false);
    match runtime.block_on(sundown::cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            sundown::exit::code_for(&err)
        }
    }
}

fn init_logging(verbose: u8, to_stdout: bool) {
    let default = match verbose {
        // The SDK's credential chain logs each provider that failed with its whole Debug dump; the run's
        // own one-line error says what matters, and -v shows the dump.
        0 => "warn,sundown=info,aws_config=error",
        1 => "info,sundown=debug",
        _ => "debug,sundown=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUNDOWN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Progress for people: no timestamps (CI adds its own), colour only on a terminal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time();
    if to_stdout {
        builder.with_writer(std::io::stdout).with_ansi(false).init();
    } else {
        builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}
