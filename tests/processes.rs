//! How each process is started: shell mode, working directory, environment file, and each
//! output mode, with the built binary.

mod support;

use std::time::Duration;

use support::{Manager, PATIENCE, alive, run_in, service, write};

#[test]
fn shell_mode_expands_variables_and_runs_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        dir.path(),
        "env.sh",
        "export GREETING='hello there'\nexport EMPTY=\n",
    );
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "step": {"executable": "echo \"$GREETING\" > out && pwd >> out", "options": {"shell": "sh",
                     "working_directory": "sub", "environment_file": "env.sh"}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sub = dir.path().join("sub").canonicalize().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/out")).unwrap(),
        format!("hello there\n{}\n", sub.display())
    );
}

#[test]
fn environment_file_variables_reach_a_direct_command_alongside_our_own() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "env.sh", "export FROM_FILE=1\n");
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "step": {"executable": "sh", "arguments": ["-c", "echo $FROM_FILE $FROM_MANAGER > out"],
                     "options": {"environment_file": "env.sh"}}
        }}"#,
    );
    let run = support::rmanager()
        .current_dir(dir.path())
        .env("FROM_MANAGER", "2")
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "1 2\n"
    );
}

#[test]
fn a_missing_or_failing_environment_file_is_a_setup_failure_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.sh", "echo oops >&2; exit 3\n");
    for (file, reason) in [
        ("missing.sh", "environment file missing.sh: no such file"),
        (
            "broken.sh",
            "environment file broken.sh: sourcing failed: oops",
        ),
    ] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{"processes": {{"a": {{"executable": "true", "options": {{"environment_file": "{file}"}}}}}}}}"#
            ),
        );
        let run = run_in(dir.path(), &[]);
        assert_eq!(run.code, 5);
        assert_eq!(
            run.stderr,
            format!("rmanager: setup failed: a: {reason}; stopped everything\n")
        );
    }
}

#[test]
fn output_goes_to_rmanagers_stdout_by_default_and_to_a_file_when_redirected() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "loud": {"executable": "echo out; echo err >&2", "options": {"shell": true},
                     "verifier": {"type": "exited"}},
            "logged": {"executable": "echo out; echo err >&2", "options": {"shell": true, "redirect_output": "logged.log"}}
        }}"#,
    );
    write(dir.path(), "logged.log", "old content that is truncated\n");
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // stdout and stderr come through two pipes: their lines may arrive either way round.
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&support::without_launch_lines(
            &run.stdout,
            &["loud", "logged"]
        )),
        ["loud   | err", "loud   | out"]
    );
    assert_eq!(
        sorted(&std::fs::read_to_string(dir.path().join("logged.log")).unwrap()),
        ["err", "out"]
    );
}

#[test]
fn an_unwritable_output_file_is_a_setup_failure() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "true", "options": {"redirect_output": "no/such/dir/a.log"}}}}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with(
            "rmanager: setup failed: a: cannot create output file no/such/dir/a.log: "
        ),
        "{}",
        run.stderr
    );
}

/// pymanager piped suppressed output and never read it, so a chatty child blocked forever.
#[test]
fn a_suppressed_child_printing_megabytes_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"processes": {{
            "chatty": {{"executable": "{}", "arguments": ["--print-bytes", "8000000", "--exit-after-ms", "0"],
                        "options": {{"suppress_output": true}}, "verifier": {{"type": "exited"}}}}
        }}}}"#,
        service()
    );
    write(dir.path(), "rmanager.json", config);
    let run = Manager::start(dir.path(), &[]).finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        support::without_launch_lines(&format!("{}\n", run.stdout), &["chatty"]),
        ""
    );
}

#[test]
fn keep_alive_stays_up_after_every_process_ended() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"keep_alive": true, "messages": ["process.exit"], "processes": {"a": {"executable": "true"}}}"#,
    );
    let mut manager = Manager::start(dir.path(), &[]);
    manager.line_starting("rmanager: Process true exited with code 0");
    // A negative: without keep-alive the manager exits within milliseconds of this line.
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(manager.pid()), "rmanager exited despite keep_alive");
    manager.signal(libc::SIGTERM);
    let run = manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_second_sigint_kills_everything_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config = format!(
        r#"{{"graceful_time": 600, "processes": {{
            "stubborn": {{"executable": "{}", "arguments": ["--ignore-term", "--grandchild", "--listen", "127.0.0.1:{port}"],
                          "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/"}}}}}},
            "marker": {{"executable": "echo", "arguments": ["ready"]}}
        }}}}"#,
        service()
    );
    write(dir.path(), "rmanager.json", config);
    let mut manager = Manager::start(dir.path(), &[]);
    let pids = [
        manager.number_after("pid "),
        manager.number_after("grandchild "),
    ];
    manager.lines_starting(&["ready", "rmanager: ready: "]);
    manager.signal(libc::SIGINT);
    manager.line_starting("rmanager: shutting down gracefully");
    assert!(alive(pids[0]), "the service ignores SIGTERM");
    manager.signal(libc::SIGINT);
    let run = manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("did not stop"), "{}", run.stdout);
    support::wait_until("the group to be gone", PATIENCE, || {
        pids.iter().all(|&p| !alive(p))
    });
}

#[test]
fn a_program_that_cannot_run_is_a_setup_failure_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "not-executable.sh", "echo hi\n");
    for (executable, reason) in [
        ("no-such-program", "No such file or directory"),
        ("./not-executable.sh", "Permission denied"),
    ] {
        write(
            dir.path(),
            "rmanager.json",
            format!(r#"{{"processes": {{"a": {{"executable": "{executable}"}}}}}}"#),
        );
        let run = run_in(dir.path(), &[]);
        assert_eq!(run.code, 5, "{}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!(
                "rmanager: setup failed: a: cannot run {executable}: {reason}"
            )),
            "{}",
            run.stderr
        );
    }
}

/// A process's ignored and blocked signals, as /proc shows them (hex bit masks).
fn signal_masks(status: &str) -> (u64, u64) {
    let mask = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    (mask("SigIgn:"), mask("SigBlk:"))
}

#[test]
fn children_start_with_no_signal_blocked_and_none_of_rmanagers_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "cat", "arguments": ["/proc/self/status"],
                                "options": {"redirect_output": "status"}}}}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (ignored, blocked) =
        signal_masks(&std::fs::read_to_string(dir.path().join("status")).unwrap());
    assert_eq!(blocked, 0, "no signal is blocked");
    // What rmanager handles (and SIGPIPE, which Rust programs ignore) is default for its
    // children; what this test was started with ignoring may stay ignored.
    let (ours, _) = signal_masks(&std::fs::read_to_string("/proc/self/status").unwrap());
    let handled = [
        libc::SIGPIPE,
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGCHLD,
    ]
    .iter()
    .fold(0u64, |mask, s| mask | 1 << (s - 1));
    assert_eq!(ignored & handled, 0, "ignored: {ignored:x}");
    assert_eq!(ignored, ours & !handled);
}
