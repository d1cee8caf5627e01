//! rmanager as a library, the way a Rust test suite uses it as a fixture: restart, status
//! and shutdown through `Manager`, with real processes.

mod support;

use async_std::task::block_on;
use futures_lite::future::zip;
use rmanager::error::Failure;
use rmanager::supervisor::{Manager, ManagerStatus, RestartError, RunState};
use support::{PATIENCE, alive, checked_service, free_port, service, wait_until};

fn start(config: &str) -> Manager {
    let spec = rmanager::ManagerSpec::load_str(config).expect("a valid config");
    Manager::start(spec).expect("the manager starts")
}

/// A process that ignores SIGTERM, ready only once it does.
fn stubborn() -> String {
    checked_service(&["--ignore-term"], free_port())
}

fn pid(manager: &Manager, id: usize) -> u32 {
    match manager.process(id).unwrap().run {
        RunState::Running { pid } => pid,
        other => panic!("process {id} is {other:?}"),
    }
}

/// Shuts the environment down and checks that it finished cleanly.
fn finish(manager: Manager) {
    manager.shutdown();
    block_on(async_std::future::timeout(PATIENCE, manager.wait()))
        .expect("shutdown finishes")
        .expect("a clean run");
}

#[test]
fn restart_replaces_the_process_and_verifies_it_again() {
    let port = free_port();
    let manager = start(&format!(
        r#"{{"processes": {{"web": {{"executable": "{}", "arguments": ["--listen", "127.0.0.1:{port}", "--delay-ms", "200"],
            "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/"}}}}}}}}}}"#,
        service()
    ));
    block_on(manager.ready()).unwrap();
    assert_eq!(manager.status(), ManagerStatus::Running);
    let old = pid(&manager, 1);

    let by_name = manager.find("web").unwrap();
    let state = block_on(manager.restart(by_name)).unwrap();
    let RunState::Running { pid: new } = state.run else {
        panic!("{state:?}")
    };
    assert_ne!(old, new);
    assert!(!alive(old as i32));
    // restart() returned after the verifier passed, so the new process answers now.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the new process listens");
    assert_eq!(manager.status(), ManagerStatus::Running);
    finish(manager);
}

#[test]
fn restarts_of_one_process_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let port = free_port();
    let manager = start(&format!(
        r#"{{"processes": {{"worker": {{"executable": "{}", "arguments": ["--listen", "127.0.0.1:{port}", "--log", "{}"],
            "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/"}}}}}}}}}}"#,
        service(),
        log.display()
    ));
    block_on(manager.ready()).unwrap();
    let ((a, b), c) = block_on(zip(
        zip(manager.restart(1), manager.restart(1)),
        manager.restart(1),
    ));
    let pids: Vec<_> = [a, b, c]
        .into_iter()
        .map(|r| match r.unwrap().run {
            RunState::Running { pid } => pid,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "start\nstop\nstart\nstop\nstart\nstop\nstart\n"
    );
    finish(manager);
}

#[test]
fn a_restart_that_fails_its_verifier_leaves_the_environment_up() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("fail");
    let manager = start(&format!(
        r#"{{"processes": {{
            "check": {{"executable": "sh", "arguments": ["-c", "test ! -e {marker}"], "verifier": {{"type": "exited"}}}},
            "service": {{"executable": "sleep", "arguments": ["600"]}}
        }}}}"#,
        marker = marker.display()
    ));
    block_on(manager.ready()).unwrap();
    let service_pid = pid(&manager, 2);
    std::fs::write(&marker, "").unwrap();

    let error = block_on(manager.restart(1)).unwrap_err();
    assert_eq!(
        error,
        RestartError::Failed {
            process: "check".into(),
            failure: Failure::Check("exited with code 1, expected exit code 0".into()),
            output: Vec::new(),
        }
    );
    assert_eq!(manager.status(), ManagerStatus::Running);
    assert_eq!(pid(&manager, 2), service_pid);
    assert!(alive(service_pid as i32));
    finish(manager);
}

/// While one restart waits for a process that ignores SIGTERM, another process restarts,
/// and the state can be read.
#[test]
fn restarts_of_different_processes_run_side_by_side() {
    let manager = start(&format!(
        r#"{{"graceful_time": 600, "processes": {{
            "stubborn": {},
            "plain": {{"executable": "sleep", "arguments": ["600"]}}
        }}}}"#,
        stubborn()
    ));
    block_on(manager.ready()).unwrap();
    let stubborn = pid(&manager, 1);
    block_on(async {
        let stuck = manager.restart(1);
        let other = async {
            let state = manager.restart(2).await.unwrap();
            assert!(matches!(state.run, RunState::Running { .. }));
            // The stuck restart still waits for its process.
            assert_eq!(
                manager.process(1).unwrap().run,
                RunState::Running { pid: stubborn }
            );
            manager.force_shutdown();
        };
        let (stuck, ()) = zip(stuck, other).await;
        assert_eq!(stuck.unwrap_err(), RestartError::ShuttingDown);
    });
    block_on(async_std::future::timeout(PATIENCE, manager.wait()))
        .unwrap()
        .unwrap();
    assert!(!alive(stubborn as i32));
}

#[test]
fn restart_is_refused_during_shutdown_and_for_unknown_ids() {
    let manager = start(&format!(
        r#"{{"graceful_time": 600, "processes": {{"stubborn": {}}}}}"#,
        stubborn()
    ));
    block_on(manager.ready()).unwrap();
    assert_eq!(
        block_on(manager.restart(2)).unwrap_err(),
        RestartError::NotFound(2)
    );
    assert_eq!(
        block_on(manager.restart(0)).unwrap_err(),
        RestartError::NotFound(0)
    );

    manager.shutdown();
    wait_until("shutdown to begin", PATIENCE, || {
        manager.status() == ManagerStatus::Shutdown
    });
    assert_eq!(
        block_on(manager.restart(1)).unwrap_err(),
        RestartError::ShuttingDown
    );
    manager.force_shutdown();
    block_on(async_std::future::timeout(PATIENCE, manager.wait()))
        .unwrap()
        .unwrap();
    assert_eq!(manager.status(), ManagerStatus::ForceShutdown);
    assert!(matches!(
        manager.process(1).unwrap().run,
        RunState::Terminated { code: -9 }
    ));
}

#[test]
fn ready_reports_a_setup_failure() {
    let manager =
        start(r#"{"processes": {"a": {"executable": "false", "verifier": {"type": "exited"}}}}"#);
    let error = block_on(manager.ready()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rmanager: setup failed: a: exited with code 1, expected exit code 0; stopped everything"
    );
    assert!(block_on(manager.wait()).is_err());
}

#[test]
fn processes_keep_file_order_and_ids_whatever_order_they_started_in() {
    let dir = tempfile::tempdir().unwrap();
    let manager = start(&format!(
        r#"{{"startup": "parallel", "processes": {{
            "first": {{"executable": "sh", "arguments": ["-c", "echo first >> {0}/order; exec sleep 600"], "depends_on": ["second"]}},
            "second": {{"executable": "sh", "arguments": ["-c", "echo second >> {0}/order"], "verifier": {{"type": "exited"}}}}
        }}}}"#,
        dir.path().display()
    ));
    block_on(manager.ready()).unwrap();
    let processes = manager.processes();
    let names: Vec<(usize, &str)> = processes.iter().map(|p| (p.id, p.name.as_str())).collect();
    assert_eq!(names, [(1, "first"), (2, "second")]);
    wait_until("first to log", PATIENCE, || {
        std::fs::read_to_string(dir.path().join("order"))
            .unwrap_or_default()
            .lines()
            .count()
            == 2
    });
    assert_eq!(
        std::fs::read_to_string(dir.path().join("order")).unwrap(),
        "second\nfirst\n"
    );
    finish(manager);
}

/// A caller that gives up on a restart (a dropped future, a closed HTTP connection) does
/// not stop it: the process still comes back, and the environment still shuts down.
#[test]
fn a_dropped_restart_future_still_completes_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let port = free_port();
    let manager = start(&format!(
        r#"{{"processes": {{"web": {{"executable": "{}", "arguments": ["--listen", "127.0.0.1:{port}", "--delay-ms", "300", "--log", "{}"],
            "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/"}}}}}}}}}}"#,
        service(),
        log.display()
    ));
    block_on(manager.ready()).unwrap();
    let old = pid(&manager, 1);
    // Given up on while the new process is still 300 ms from listening.
    let given_up = block_on(async_std::future::timeout(
        std::time::Duration::from_millis(50),
        manager.restart(1),
    ));
    assert!(given_up.is_err(), "the restart cannot be over yet");
    wait_until("the restart to finish anyway", PATIENCE, || {
        std::fs::read_to_string(&log).unwrap() == "start\nstop\nstart\n"
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_ne!(pid(&manager, 1), old);
    assert!(!alive(old as i32));
    finish(manager);
}

#[test]
fn the_library_tells_the_port_it_was_given() {
    let manager = start(&format!(
        r#"{{"ports": {{"WEB_PORT": 0}}, "processes": {{"web": {{"executable": "{}",
            "arguments": ["--listen", "127.0.0.1:${{WEB_PORT}}"],
            "verifier": {{"type": "tcp", "arguments": {{"port": "${{WEB_PORT}}"}}}}}}}}}}"#,
        service()
    ));
    block_on(manager.ready()).expect("ready");
    let port = manager.port("WEB_PORT").expect("a port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(manager.ports(), [("WEB_PORT".to_owned(), port)]);
    assert_eq!(manager.port("NOPE"), None);
    finish(manager);
}
