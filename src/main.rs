use std::process::ExitCode;

use clap::Parser;
use rmanager::cli::Cli;
use rmanager::error::exit_code;

fn main() -> ExitCode {
    // glibc gives each thread that allocates an arena of its own (the launcher, the
    // prober, the output thread...): a few hundred KB resident for no speed rmanager
    // needs, as its threads rarely allocate at the same moment.
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread exists; only changes an allocator setting.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
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
