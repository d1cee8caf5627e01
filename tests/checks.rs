//! The readiness checks added to pymanager's two (tcp, command, log, file) and the http
//! check's method and status, each passing and failing, with real processes.

mod support;

use support::{Manager, free_port, run_in, service, write};

/// Runs rmanager on one process `web` (`process`: its executable, arguments, options) with
/// `verifier`, then a step `after` that prints `after-ready`; returns the finished run.
/// The environment stops by itself once `web` exits, or with SIGTERM once `after` ran.
fn run_check(process: &str, verifier: &str) -> support::Run {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"processes": {{
                "web": {{{process}, "verifier": {verifier}}},
                "after": {{"executable": "echo", "arguments": ["after-ready"]}}
            }}}}"#
        ),
    );
    let mut manager = Manager::start(dir.path(), &[]);
    // Once `after` has printed and the environment is up (the two lines in either order),
    // or never when the check failed.
    if manager.try_line_starting("after-ready").is_some()
        && (manager.saw("rmanager: ready: ")
            || manager.try_line_starting("rmanager: ready: ").is_some())
    {
        manager.signal(libc::SIGTERM);
    }
    manager.finish()
}

fn service_args(args: &str) -> String {
    format!(r#""executable": "{}", "arguments": [{args}]"#, service())
}

#[test]
fn tcp_passes_once_the_port_accepts_and_fails_with_what_it_tried() {
    let port = free_port();
    let run = run_check(
        &service_args(&format!(
            r#""--delay-ms", "200", "--listen", "127.0.0.1:{port}""#
        )),
        &format!(r#"{{"type": "tcp", "arguments": {{"port": {port}}}}}"#),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("after-ready"));

    let closed = free_port();
    let run = run_check(
        r#""executable": "sleep", "arguments": ["600"]"#,
        &format!(
            r#"{{"type": "tcp", "arguments": {{"port": {closed}, "timeout": 0.3, "interval": 0.1}}}}"#
        ),
    );
    assert_eq!(run.code, 5);
    let expected =
        format!("rmanager: setup failed: web: tcp 127.0.0.1:{closed}: connection refused (");
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert!(run.stderr.contains(" attempts in 0."), "{}", run.stderr);
}

#[test]
fn command_passes_on_exit_0_and_fails_with_the_last_exit_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("up");
    let run = run_check(
        &format!(
            r#""executable": "sleep 0.2; touch {}; sleep 600", "options": {{"shell": true}}"#,
            marker.display()
        ),
        &format!(
            r#"{{"type": "command", "arguments": {{"command": ["test", "-e", "{}"]}}}}"#,
            marker.display()
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = run_check(
        r#""executable": "sleep", "arguments": ["600"]"#,
        r#"{"type": "command", "arguments": {"shell": "echo not yet >&2; exit 2", "timeout": 0.3, "interval": 0.1}}"#,
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with(
            "rmanager: setup failed: web: command echo not yet >&2; exit 2: exited with code 2: not yet ("
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_command_attempt_that_hangs_is_cut_off_at_interval() {
    let run = run_check(
        r#""executable": "sleep", "arguments": ["600"]"#,
        r#"{"type": "command", "arguments": {"shell": "sleep 600", "timeout": 0.5, "interval": 0.2}}"#,
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains(": command sleep 600: no answer within 0.2 s ("),
        "{}",
        run.stderr
    );
}

#[test]
fn log_passes_on_a_matching_line_which_still_reaches_the_terminal() {
    let run = run_check(
        r#""executable": "sleep 0.2; echo 'server listening on port 8080'; sleep 600", "options": {"shell": true}"#,
        r#"{"type": "log", "arguments": {"pattern": "listening on port \\d+"}}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("server listening on port 8080\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("after-ready"));

    let run = run_check(
        r#""executable": "echo nothing to see; sleep 600", "options": {"shell": true}"#,
        r#"{"type": "log", "arguments": {"pattern": "ready", "timeout": 0.3}}"#,
    );
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr,
        "rmanager: setup failed: web: no line matched /ready/ within 0.3 s; stopped everything (never started: after)\n\
         rmanager: web's last 1 line of output:\n    nothing to see\n"
    );
}

#[test]
fn log_sees_the_last_line_of_a_process_that_exits_at_once() {
    let run = run_check(
        r#""executable": "echo", "arguments": ["migrations done"]"#,
        r#"{"type": "log", "arguments": {"pattern": "done$"}}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = run_check(
        r#""executable": "echo", "arguments": ["migrations failed"]"#,
        r#"{"type": "log", "arguments": {"pattern": "done$"}}"#,
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains("web: exited with code 0 before it became ready"),
        "{}",
        run.stderr
    );
}

/// The copying a log check needs must not lose output: every byte of a chatty child
/// reaches its file, even after the line matched.
#[test]
fn log_matching_loses_no_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"processes": {{"chatty": {{"executable": "{}", "arguments": ["--print-bytes", "4000000", "--exit-after-ms", "0"],
                "options": {{"redirect_output": "chatty.log"}},
                "verifier": {{"type": "log", "arguments": {{"pattern": "^pid \\d+$"}}}}}}}}}}"#,
            service()
        ),
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = std::fs::read(dir.path().join("chatty.log")).unwrap();
    let xs = log.iter().filter(|&&b| b == b'x').count();
    assert_eq!(xs, 8_000_000, "both streams, every byte");
}

#[test]
fn file_passes_once_the_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ready.flag");
    let run = run_check(
        &format!(
            r#""executable": "sleep 0.2; touch {}; sleep 600", "options": {{"shell": true}}"#,
            path.display()
        ),
        &format!(
            r#"{{"type": "file", "arguments": {{"path": "{}"}}}}"#,
            path.display()
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = run_check(
        r#""executable": "sleep", "arguments": ["600"]"#,
        r#"{"type": "file", "arguments": {"path": "never.flag", "timeout": 0.3, "interval": 0.1}}"#,
    );
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains("web: file never.flag: no such file or directory ("),
        "{}",
        run.stderr
    );
}

#[test]
fn http_method_and_status_choose_what_passes() {
    let port = free_port();
    let run = run_check(
        &service_args(&format!(
            r#""--status", "503", "--listen", "127.0.0.1:{port}""#
        )),
        &format!(
            r#"{{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "method": "HEAD", "status": [200, 503]}}}}"#
        ),
    );
    assert_eq!(run.code, 0, "503 is listed: {}", run.stderr);

    let port = free_port();
    let run = run_check(
        &service_args(&format!(r#""--listen", "127.0.0.1:{port}""#)),
        &format!(
            r#"{{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "status": 204, "timeout": 0.3}}}}"#
        ),
    );
    assert_eq!(run.code, 5, "200 is not 204");
    assert!(run.stderr.contains(": status 200 ("), "{}", run.stderr);
}

#[test]
fn http_passes_on_unregistered_codes_and_skips_headers_that_are_not_ascii() {
    let port = free_port();
    let run = run_check(
        &service_args(&format!(
            r#""--status", "299", "--header", "X-Note: café ☕", "--listen", "127.0.0.1:{port}""#
        )),
        &format!(
            r#"{{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "status": [299, 420], "timeout": 10}}}}"#
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn log_says_when_a_line_was_too_long_to_match_whole() {
    let run = run_check(
        r#""executable": "sh", "arguments": ["-c", "head -c 100000 /dev/zero | tr '\\0' a; echo READY; exec sleep 600"],
           "options": {"suppress_output": true}"#,
        r#"{"type": "log", "arguments": {"pattern": "READY$", "timeout": 0.5}}"#,
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "no line matched /READY$/ within 0.5 s (lines longer than 64 KiB were matched on their first 64 KiB)"
        ),
        "{}",
        run.stderr
    );
}
