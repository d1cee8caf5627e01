//! Fixture mode, `rmanager -- COMMAND [ARGS...]`: bring the environment up, run COMMAND
//! against it, shut the environment down, and exit with COMMAND's exit code. This replaces
//! the start-server-and-test scripts test suites use, for any number of services.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::environment::Environment;
use crate::error::{Error, exit_code};
use crate::process::{Child, Command, ProcessEnd};
use crate::spec::ManagerSpec;

/// Runs COMMAND once every process is ready; returns its exit code (128+N when signal N
/// killed it). A setup failure is an error, and COMMAND never runs.
pub async fn run(
    mut spec: ManagerSpec,
    command: &[String],
    env_file: Option<PathBuf>,
) -> Result<u8, Error> {
    // The environment lives as long as COMMAND: setup steps that end on their own must not
    // end it, and with it COMMAND, which the shutdown's sweep of the cgroup would kill.
    spec.keep_alive = true;
    let environment = Environment::start(spec, env_file).await?;
    if let Err(error) = environment.ready().await {
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
        return exit_code::OK;
    };
    // It stays in rmanager's process group, so it owns the terminal as rmanager does.
    let mut child = Command::new(program);
    child.args(args).envs(environment.exports());
    environment.manager().contain(&mut child);
    if !environment.hold_signals() {
        crate::say!("{program} not run: the environment is shutting down");
        return exit_code::SETUP_FAILED;
    }
    let child = match Child::spawn(child, None).await {
        Ok((child, _)) => Arc::new(child),
        Err(e) => {
            environment.pass_signals_to(None);
            crate::say!("cannot run {program}: {e}");
            return if e.kind() == io::ErrorKind::NotFound {
                exit_code::COMMAND_NOT_FOUND
            } else {
                exit_code::COMMAND_NOT_EXECUTABLE
            };
        }
    };
    log::info!("running {} (pid {})", command.join(" "), child.pid());
    crate::fault::pause("command-started").await;
    environment.pass_signals_to(Some(child.clone()));
    let end = child.ended().await;
    environment.pass_signals_to(None);
    child.reap().await;
    // The code a shell would report.
    match end {
        ProcessEnd::Exited(code) => code as u8,
        ProcessEnd::Signaled(signal) => exit_code::KILLED_BY_SIGNAL.wrapping_add(signal as u8),
    }
}
