//! Fixture mode, `rmanager -- COMMAND [ARGS...]`: bring the environment up, run COMMAND
//! against it, shut the environment down, and exit with COMMAND's exit code. This replaces
//! the start-server-and-test scripts test suites use, for any number of services.

use std::io;

use crate::environment::Environment;
use crate::error::Error;
use crate::spec::ManagerSpec;

/// Runs COMMAND once every process is ready; returns its exit code (128+N when signal N
/// killed it). A setup failure is an error, and COMMAND never runs.
pub async fn run(spec: ManagerSpec, command: &[String]) -> Result<u8, Error> {
    let environment = Environment::start(spec).await?;
    if let Err(error) = environment.manager().ready().await {
        // The shutdown is under way already; report once it is done.
        let _ = environment.wait().await;
        return Err(error);
    }
    let code = run_command(&environment, command).await;
    environment.manager().shutdown();
    environment.wait().await?;
    Ok(code)
}

async fn run_command(environment: &Environment, command: &[String]) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return 0;
    };
    // It stays in rmanager's process group, so it owns the terminal as rmanager does.
    let mut child = async_process::Command::new(program);
    child.args(args);
    if let Some(url) = environment.url() {
        child.env("RMANAGER_URL", url);
    }
    let mut child = match child.spawn() {
        Ok(child) => child,
        Err(e) => {
            crate::say!("cannot run {program}: {e}");
            // The shell's codes: 126 found but not runnable, 127 not found.
            return if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    log::info!("running {} (pid {})", command.join(" "), child.id());
    environment.pass_signals_to(Some(child.id()));
    let status = child.status().await;
    environment.pass_signals_to(None);
    match status {
        Ok(status) => exit_code(status),
        Err(e) => {
            crate::say!("lost track of {program}: {e}");
            1
        }
    }
}

/// The exit code a shell would report for this status.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => (128 + signal) as u8,
        (None, None) => 1,
    }
}
