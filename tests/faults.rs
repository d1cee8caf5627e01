//! A panic inside rmanager (a bug) is reported, kills what it concerns and ends every wait
//! that depends on the task it killed. Faults are injected with `RMANAGER_FAULT`, which
//! debug builds read (src/fault.rs).

mod support;

use support::{StartManager, alive, rmanager_command, write};

/// A process that prints its pid and sleeps.
const SLEEPER: &str =
    r#"{"executable": "echo pid $$; exec sleep 600", "options": {"shell": true}}"#;

#[test]
fn a_job_that_panics_during_the_launch_fails_it_and_everything_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(r#"{{"processes": {{"web": {SLEEPER}, "db": {SLEEPER}}}}}"#),
    );
    let mut manager = rmanager_command(dir.path())
        .env("RMANAGER_FAULT", "start:db")
        .start();
    let web = manager.number_after("pid ");
    let run = manager.finish();
    assert_eq!(run.code, 5, "{}", run.stderr);
    // After the panic's own message (Rust's, with its place in the source).
    assert!(
        run.stderr.lines().any(|line| line.starts_with(
            "rmanager: setup failed: db: internal error: fault injected at start:db;"
        )),
        "{}",
        run.stderr
    );
    assert!(!alive(web));
}

#[test]
fn a_coordinator_that_panics_kills_everything_and_rmanager_exits() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(r#"{{"processes": {{"web": {SLEEPER}}}}}"#),
    );
    let mut manager = rmanager_command(dir.path())
        .env("RMANAGER_FAULT", "shutdown:")
        .start();
    manager.lines_starting(&["pid ", "rmanager: ready: "]);
    let web = manager.seen_number("pid ");
    manager.signal(libc::SIGTERM);
    let run = manager.finish();
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "rmanager: internal error in the coordinator: fault injected at shutdown:; killing everything"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("internal error: the coordinator: fault injected at shutdown:"),
        "{}",
        run.stderr
    );
    assert!(!alive(web));
}
