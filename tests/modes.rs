//! The three ways to run an environment (foreground is everywhere else): daemon mode and
//! fixture mode; and where the manager's own output goes (-l, -v, -w).

mod support;

use std::net::TcpStream;
use std::path::Path;

use support::{Daemon, Manager, PATIENCE, alive, free_port, run_in, service, wait_until, write};

/// A config with one test-service behind an http check (listening after `delay` ms).
fn web_config(dir: &Path, port: u16, delay: u32, extra: &str) {
    write(
        dir,
        "rmanager.json",
        format!(
            r#"{{{extra} "processes": {{"web": {{"executable": "{}", "arguments": ["--listen", "127.0.0.1:{port}", "--delay-ms", "{delay}"],
                "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "timeout": 10}}}}}}}}}}"#,
            service()
        ),
    );
}

/// The pid test-service printed into the daemon's logfile.
fn service_pid(log: &Path) -> i32 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .map(support::unlabelled)
        .find(|l| l.starts_with("pid "))
        .expect("the service's pid line");
    line[4..].parse().unwrap()
}

#[test]
fn daemon_returns_once_ready_writes_its_pidfile_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    web_config(dir.path(), port, 300, "");
    let run = run_in(
        dir.path(),
        &["-d", "--pidfile", "daemon.pid", "-l", "daemon.log"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Ready means ready: the service answers the moment the command returns.
    TcpStream::connect(("127.0.0.1", port)).expect("the service is up");
    let pid: i32 = run
        .stdout
        .strip_prefix("rmanager running (pid ")
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{}", run.stdout))
        .parse()
        .unwrap();
    let daemon = support::Daemon(pid);
    let pidfile = dir.path().join("daemon.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{pid}\n")
    );
    let web = service_pid(&dir.path().join("daemon.log"));

    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(daemon.0, libc::SIGTERM) };
    wait_until("the daemon and its service to be gone", PATIENCE, || {
        !alive(daemon.0) && !alive(web)
    });
    assert!(!pidfile.exists(), "the pidfile is removed");
}

#[test]
fn daemon_with_a_failing_check_exits_5_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"processes": {{"web": {{"executable": "{}", "arguments": ["--status", "500", "--listen", "127.0.0.1:{port}"],
                "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "timeout": 0.5, "interval": 0.1}}}}}}}}}}"#,
            service()
        ),
    );
    let run = run_in(
        dir.path(),
        &["-d", "--pidfile", "daemon.pid", "-l", "daemon.log"],
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with(&format!(
            "rmanager: setup failed: web: http://127.0.0.1:{port}/: status 500 ("
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    let web = service_pid(&dir.path().join("daemon.log"));
    // The waiting command prints the failure report, the service's own last lines in it.
    assert!(
        run.stderr.contains(&format!(
            "rmanager: web's last 1 line of output:\n    pid {web}\n"
        )),
        "{}",
        run.stderr
    );
    assert!(!alive(web), "stopped before the command returned");
    wait_until("the pidfile to be removed", PATIENCE, || {
        !dir.path().join("daemon.pid").exists()
    });
}

#[test]
fn daemon_stops_on_delete() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    web_config(
        dir.path(),
        port,
        0,
        r#""http": {"enabled": true, "port": 0},"#,
    );
    let run = run_in(dir.path(), &["-d"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The ready line, then what the tests are told, as KEY=value lines.
    let (ready, exports) = run.stdout.split_once('\n').unwrap();
    let (pid, url) = ready
        .strip_prefix("rmanager running (pid ")
        .and_then(|rest| rest.strip_suffix(")"))
        .and_then(|rest| rest.split_once(", "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let daemon = support::Daemon(pid.parse().unwrap());
    assert_eq!(exports, format!("RMANAGER_URL={url}\n"));
    let response = async_std::task::block_on(surf::delete(url)).unwrap();
    assert_eq!(response.status(), 200);
    wait_until("the daemon to exit", PATIENCE, || !alive(daemon.0));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the service is gone"
    );
}

/// Runs fixture mode on the web config with `script` as COMMAND (via sh -c).
fn fixture(dir: &Path, script: &str) -> support::Run {
    let port = free_port();
    web_config(dir, port, 100, r#""http": {"enabled": true, "port": 0},"#);
    let run = run_in(dir, &["--", "sh", "-c", script]);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the environment is shut down afterwards"
    );
    run
}

#[test]
fn fixture_mode_runs_the_command_when_ready_and_returns_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixture(dir.path(), r#"echo "url=$RMANAGER_URL"; exit 0"#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("url=http://127.0.0.1:"),
        "{}",
        run.stdout
    );

    assert_eq!(fixture(dir.path(), "exit 3").code, 3);
    assert_eq!(
        fixture(dir.path(), "kill -TERM $$").code,
        128 + libc::SIGTERM
    );
}

#[test]
fn fixture_mode_checks_the_service_is_up_before_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    web_config(dir.path(), port, 300, "");
    let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port}");
    let run = run_in(dir.path(), &["--", "bash", "-c", &probe]);
    assert_eq!(
        run.code, 0,
        "the service answered when COMMAND started: {}",
        run.stderr
    );
}

#[test]
fn fixture_mode_never_runs_the_command_when_setup_fails() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"setup": {"executable": "false", "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["--", "touch", "ran"]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with("rmanager: setup failed: setup: "),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("ran").exists());
}

/// A directory whose environment is one step that ends at once.
fn one_step() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"setup": {"executable": "true"}}}"#,
    );
    dir
}

#[test]
fn fixture_mode_outlives_setup_steps_that_end_on_their_own() {
    // Without keep_alive, an environment of one-shot steps ends once they have; COMMAND,
    // and what it starts, still runs to its end.
    let dir = one_step();
    let run = run_in(dir.path(), &["--", "sh", "-c", "sleep 0.5; echo finished"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("finished\n"), "{}", run.stdout);
}

#[test]
fn fixture_mode_exits_127_or_126_when_the_command_cannot_run() {
    let dir = one_step();
    write(dir.path(), "not-executable.sh", "echo hi\n");
    for (command, code) in [("no-such-command", 127), ("./not-executable.sh", 126)] {
        let run = run_in(dir.path(), &["--", command]);
        assert_eq!(run.code, code, "{}", run.stderr);
        assert!(
            run.stdout
                .contains(&format!("rmanager: cannot run {command}: ")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn fixture_mode_passes_sigterm_to_the_command_then_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    web_config(dir.path(), port, 0, "");
    let mut manager = Manager::start(
        dir.path(),
        &[
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo command-running; while :; do sleep 0.05; done",
        ],
    );
    let web = manager.number_after("pid ");
    manager.line_starting("command-running");
    manager.signal(libc::SIGTERM);
    manager.line_starting("got-term");
    let run = manager.finish();
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(!alive(web));
}

#[test]
fn fixture_mode_passes_a_signal_that_comes_as_the_command_starts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    web_config(dir.path(), port, 0, "");
    // The command is rmanager's child: $PPID is rmanager, signalled as soon as the command
    // runs, before rmanager has heard that it started (a loaded machine lost that race
    // about once in 25 runs: the signal shut the environment down, and rmanager waited for
    // a command that never heard of it). The pause makes the window wide.
    let mut command = support::rmanager_command(dir.path());
    command.env("RMANAGER_PAUSE", "command-started").args([
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; kill -TERM $PPID; while :; do sleep 0.05; done",
    ]);
    let run = support::StartManager::start(&mut command).finish();
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(run.stdout.contains("got-term"), "{}", run.stdout);
}

#[test]
fn logfile_takes_the_managers_lines_and_leaves_the_childrens_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"messages": ["process.exit"], "processes": {"a": {"executable": "echo", "arguments": ["child output"]}}}"#,
    );
    let run = run_in(dir.path(), &["-l", "manager.log", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "a | child output\n");
    assert_eq!(run.stderr, "");
    let log = std::fs::read_to_string(dir.path().join("manager.log")).unwrap();
    assert!(
        log.contains("rmanager: Process echo child output exited with code 0\n"),
        "{log}"
    );
    assert!(
        log.contains("rmanager: info: launching a (echo child output)\n"),
        "{log}"
    );
    assert!(log.lines().all(|l| l.starts_with("rmanager: ")), "{log}");
}

#[test]
fn verbose_and_debug_add_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "true", "verifier": {"type": "exited"}}}}"#,
    );
    // Without -v (and not on a terminal), a line for each step of the launch and the one
    // that says the environment is up.
    let quiet = run_in(dir.path(), &[]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    assert!(
        quiet.stdout.contains("rmanager: ready: 1 process in "),
        "{}",
        quiet.stdout
    );
    assert_eq!(support::without_launch_lines(&quiet.stdout, &["a"]), "");

    let verbose = run_in(dir.path(), &["-v"]);
    assert!(
        verbose
            .stderr
            .contains("rmanager: info: launching a (true)\n"),
        "{}",
        verbose.stderr
    );
    assert!(
        verbose.stderr.contains("rmanager: info: a is ready\n"),
        "{}",
        verbose.stderr
    );
    assert!(
        !verbose.stderr.contains("rmanager: debug: "),
        "{}",
        verbose.stderr
    );

    let debug = run_in(dir.path(), &["-w"]);
    assert!(
        debug.stderr.contains("rmanager: info: a is ready\n"),
        "{}",
        debug.stderr
    );
    assert!(
        debug.stderr.contains("rmanager: debug: a started: pid "),
        "{}",
        debug.stderr
    );
}

/// Starts a daemon in `dir` on a config of `sleep 600` with this pidfile; returns it.
fn daemon_on(dir: &Path, pidfile: &str) -> Daemon {
    write(
        dir,
        "rmanager.json",
        r#"{"processes": {"idle": {"executable": "sleep", "arguments": ["600"]}}}"#,
    );
    let run = run_in(dir, &["-d", "--pidfile", pidfile]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pid = run
        .stdout
        .strip_prefix("rmanager running (pid ")
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    support::Daemon(pid.parse().unwrap())
}

fn stop(daemon: &Daemon) {
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(daemon.0, libc::SIGTERM) };
    wait_until("the daemon to stop", PATIENCE, || !alive(daemon.0));
}

#[test]
fn a_pidfile_is_locked_and_removed_only_by_the_daemon_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("env.pid");
    let first = daemon_on(dir.path(), "env.pid");
    // A second daemon on the same pidfile is refused, and the first's file is untouched.
    let run = run_in(dir.path(), &["-d", "--pidfile", "env.pid"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "pidfile env.pid: a running daemon holds it (pid {})",
            first.0
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", first.0)
    );
    // A successor that writes a new file at the path keeps it when the first one stops.
    std::fs::remove_file(&pidfile).unwrap();
    let second = daemon_on(dir.path(), "env.pid");
    stop(&first);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", second.0)
    );
    stop(&second);
    assert!(!pidfile.exists());
}
