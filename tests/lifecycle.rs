//! Launching, verifying and shutting down real processes with the built binary.

mod support;

use std::time::Duration;

use support::{Manager, PATIENCE, alive, checked_service, run_in, service, wait_until, write};

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
        "rmanager: setup failed: setup: exited with code 3, expected exit code 0; stopped everything (never started: never)\n"
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
    // The ready line comes once both have started, before or after their exits.
    assert!(
        run.stdout.contains("rmanager: ready: 2 processes in "),
        "{}",
        run.stdout
    );
    let rest = support::without_launch_lines(&run.stdout, &["a", "b"]);
    let mut lines: Vec<&str> = rest.lines().collect();
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
    let mut manager = Manager::start(dir.path(), &[]);
    manager.lines_starting(&["pids ", "rmanager: ready: 2 processes in "]);
    let pids: Vec<i32> = manager
        .seen_line("pids ")
        .split(' ')
        .skip(1)
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.iter().all(|&p| alive(p)));

    manager.signal(libc::SIGTERM);
    let run = manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("rmanager: stubborn did not stop within 0.5 s; killed"),
        "{}",
        run.stdout
    );
    wait_until(
        "the shell and its grandchild to be gone",
        Duration::from_secs(5),
        || pids.iter().all(|&p| !alive(p)),
    );
}

/// CI runners SIGKILL whatever they time out: the watchdog then kills every group, including
/// a grandchild and what a finished setup step left running in the background.
#[test]
fn sigkill_of_the_manager_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"processes": {{
            "setup": {{"executable": "sleep 600 & echo background $!", "options": {{"shell": true}},
                       "verifier": {{"type": "exited"}}}},
            "service": {{"executable": "{service}", "arguments": ["--grandchild", "--ignore-term"]}}
        }}}}"#,
        service = service()
    );
    write(dir.path(), "rmanager.json", config);
    let mut manager = Manager::start(dir.path(), &[]);
    let pids = [
        manager.number_after("background "),
        manager.number_after("pid "),
        manager.number_after("grandchild "),
    ];
    assert!(pids.iter().all(|&p| alive(p)));

    manager.signal(libc::SIGKILL);
    wait_until("every process to be gone", PATIENCE, || {
        pids.iter().all(|&p| !alive(p))
    });
}

/// Every group gets SIGTERM at once, not one after another: when the first process is
/// killed after graceful_time, all of them have already been asked to stop.
#[test]
fn shutdown_asks_every_process_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let processes: Vec<String> = (0..4)
        .map(|i| {
            let log = format!("p{i}.log");
            let service = checked_service(&["--ignore-term", "--log", &log], support::free_port());
            format!(r#""p{i}": {service}"#)
        })
        .collect();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"graceful_time": 1, "processes": {{{}, "marker": {{"executable": "echo", "arguments": ["ready"]}}}}}}"#,
            processes.join(",")
        ),
    );
    let mut manager = Manager::start(dir.path(), &[]);
    manager.lines_starting(&["ready", "rmanager: ready: "]);
    manager.signal(libc::SIGTERM);
    manager.line_starting("rmanager: p");
    for i in 0..4 {
        let log = std::fs::read_to_string(dir.path().join(format!("p{i}.log"))).unwrap();
        assert_eq!(
            log, "start\nterm\n",
            "p{i} had its SIGTERM before the first kill"
        );
    }
    let run = manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for i in 0..4 {
        assert!(
            run.stdout
                .contains(&format!("rmanager: p{i} did not stop within 1 s; killed"))
        );
    }
}
