use std::process::ExitCode;

use clap::Parser;
use rmanager::cli::Cli;
use rmanager::error::exit_code;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version itself; usage errors exit 2, as pymanager's did.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::OK
            });
        }
    };
    ExitCode::from(cli.run())
}
