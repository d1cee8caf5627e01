//! Launching, verifying and shutting down real processes with the built binary.

mod support;

use std::io::{BufRead, BufReader};

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{rmanager, run_in, write};

/// Kills the manager's process group if a test fails before it exits.
struct Manager(Child);

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at /proc too.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn processes_start_in_order_each_after_its_verifier_passed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "first": {"executable": "sleep 0.3; echo first >> order.log", "options": {"shell": true},
                      "verifier": {"type": "exited"}},
            "second": {"executable": "echo second >> order.log", "options": {"shell": true}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("order.log")).unwrap(),
        "first\nsecond\n"
    );
}

#[test]
fn a_failing_verifier_exits_5_names_the_process_and_starts_nothing_after_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "setup": {"executable": "sh", "arguments": ["-c", "exit 3"], "verifier": {"type": "exited"}},
            "never": {"executable": "touch", "arguments": ["started"]}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr,
        "rmanager: setup failed: setup: exited with code 3, expected exit code 0; stopped everything\n"
    );
    assert!(!dir.path().join("started").exists());
}

#[test]
fn an_executable_that_cannot_run_is_a_setup_failure() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "./no-such-program"}}}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .starts_with("rmanager: setup failed: a: cannot run ./no-such-program: "),
        "{}",
        run.stderr
    );
}

#[test]
fn exits_are_reported_and_the_manager_exits_when_all_are_done() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"messages": ["process.exit"], "processes": {
            "a": {"executable": "true"},
            "b": {"executable": "sh", "arguments": ["-c", "exit 2"]}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "rmanager: Process sh -c exit 2 exited with code 2",
            "rmanager: Process true exited with code 0"
        ]
    );
}

/// A shell whose group ignores SIGTERM and holds a grandchild: after graceful_time the whole
/// group is killed, both processes are gone, and the manager exits 0.
#[test]
fn sigterm_stops_every_group_and_kills_what_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"graceful_time": 0.5, "processes": {
            "stubborn": {"executable": "trap '' TERM; sleep 60 & echo pids $$ $!; wait", "options": {"shell": "sh"}},
            "plain": {"executable": "sleep", "arguments": ["60"]}
        }}"#,
    );
    let child = rmanager()
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut manager = Manager(child);
    let mut stdout = BufReader::new(manager.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let pids: Vec<i32> = line
        .trim()
        .strip_prefix("pids ")
        .unwrap()
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.iter().all(|&p| alive(p)));

    // SAFETY: kill(2) with plain integers, on the manager this test started.
    unsafe { libc::kill(manager.0.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = manager.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        rest.contains("rmanager: stubborn did not stop within 0.5 s; killed"),
        "{rest}"
    );
    wait_until(
        "the shell and its grandchild to be gone",
        Duration::from_secs(5),
        || pids.iter().all(|&p| !alive(p)),
    );
}
