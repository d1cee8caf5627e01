//! Parallel start and `depends_on`.

mod support;

use std::net::TcpStream;

use support::{
    Manager, PATIENCE, alive, checked_service, free_port, run_in, service, wait_until, write,
};

#[test]
fn parallel_start_launches_independent_services_together() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let services: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            let log = format!("s{i}.log");
            let service = checked_service(&["--log", &log, "--delay-ms", "1500"], port);
            format!(r#""s{i}": {service}"#)
        })
        .collect();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"startup": "parallel", "processes": {{{},
                "after": {{"executable": "echo", "arguments": ["all up"], "depends_on": ["s0", "s1", "s2"]}}}}}}"#,
            services.join(",")
        ),
    );
    let mut manager = Manager::start(dir.path(), &[]);
    let started = |i: usize| dir.path().join(format!("s{i}.log")).exists();
    wait_until("all three services to start", PATIENCE, || {
        (0..3).all(started)
    });
    // Each listens 1.5 s after it started: had they started one after another, each once
    // the one before answered, the first would answer by now.
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "all three started before any was ready"
        );
    }
    manager.lines_starting(&["all up", "rmanager: ready: "]);
    for port in ports {
        TcpStream::connect(("127.0.0.1", port)).expect("ready before the process depending on it");
    }
    manager.signal(libc::SIGTERM);
    assert_eq!(manager.finish().code, 0);
}

#[test]
fn a_diamond_of_dependencies_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"startup": "parallel", "processes": {
            "d": {"executable": "echo d >> order", "options": {"shell": true}, "depends_on": ["b", "c"], "verifier": {"type": "exited"}},
            "b": {"executable": "sleep 0.2; echo b >> order", "options": {"shell": true}, "depends_on": ["a"], "verifier": {"type": "exited"}},
            "c": {"executable": "sleep 0.1; echo c >> order", "options": {"shell": true}, "depends_on": ["a"], "verifier": {"type": "exited"}},
            "a": {"executable": "sleep 0.1; echo a >> order", "options": {"shell": true}, "verifier": {"type": "exited"}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order = std::fs::read_to_string(dir.path().join("order")).unwrap();
    let order: Vec<&str> = order.lines().collect();
    assert_eq!(order.len(), 4, "{order:?}");
    assert_eq!((order[0], order[3]), ("a", "d"), "{order:?}");
}

#[test]
fn a_failure_during_a_parallel_start_stops_everything_and_names_what_never_started() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"{{"startup": "parallel", "processes": {{
            "slow": {{"executable": "{}", "arguments": ["--delay-ms", "60000", "--listen", "127.0.0.1:{port}"],
                      "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "timeout": 120}}}}}},
            "broken": {{"executable": "sh", "arguments": ["-c", "sleep 0.2; exit 1"], "verifier": {{"type": "exited"}}}},
            "later": {{"executable": "touch", "arguments": ["later"], "depends_on": ["broken"]}}
        }}}}"#,
        service()
    );
    write(dir.path(), "rmanager.json", config);
    let mut manager = Manager::start(dir.path(), &[]);
    let slow = manager.number_after("pid ");
    let run = manager.finish();
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr,
        "rmanager: setup failed: broken: exited with code 1, expected exit code 0; stopped everything (never started: later)\n"
    );
    assert!(!dir.path().join("later").exists());
    assert!(!alive(slow));
}
