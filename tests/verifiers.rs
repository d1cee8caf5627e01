//! The built-in readiness checks against real services.

mod support;

use std::net::TcpStream;

use support::{Manager, PATIENCE, alive, free_port, service, wait_until, write};

/// A config with an HTTP/1.0 service (as `python3 -m http.server` answers) behind an http
/// check, and a step after it that marks when it started.
fn web_then_marker(listen: &str, url: &str, extra: &str) -> String {
    format!(
        r#"{{"graceful_time": 5, "processes": {{
            "web": {{"executable": "{service}", "arguments": ["--listen", "{listen}", {extra} "--delay-ms", "300"],
                     "verifier": {{"type": "http", "arguments": {{"url": "{url}", "timeout": 20, "interval": 1}}}}}},
            "after": {{"executable": "touch", "arguments": ["started"]}}
        }}}}"#,
        service = service()
    )
}

fn passes_and_gates_the_next_process(listen: &str, url: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        web_then_marker(listen, url, ""),
    );
    let mut manager = Manager::start(dir.path(), &[]);
    let pid = manager.number_after("pid ");
    let marker = dir.path().join("started");
    wait_until("the step after the service", PATIENCE, || marker.exists());
    // The check passed only once the service answered, so it answers now.
    TcpStream::connect(listen).expect("the service listens once the next step started");

    manager.line_starting("rmanager: ready: ");
    manager.signal(libc::SIGTERM);
    let run = manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!alive(pid));
}

#[test]
fn http_check_passes_on_an_http_1_0_answer_and_gates_the_next_process() {
    let port = free_port();
    passes_and_gates_the_next_process(
        &format!("127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{port}/health"),
    );
}

#[test]
fn localhost_reaches_a_service_that_listens_on_ipv6_loopback_only() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let port = free_port();
    passes_and_gates_the_next_process(
        &format!("[::1]:{port}"),
        &format!("http://localhost:{port}/"),
    );
}

#[test]
fn http_check_failing_exits_5_with_the_last_reason_and_leaves_nothing_running() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"processes": {{
            "web": {{"executable": "{service}", "arguments": ["--listen", "127.0.0.1:{port}", "--status", "503", "--grandchild"],
                     "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "timeout": 1, "interval": 0.2}}}}}},
            "never": {{"executable": "touch", "arguments": ["started"]}}
        }}}}"#,
        service = service()
    );
    write(dir.path(), "rmanager.json", config);
    let mut manager = Manager::start(dir.path(), &[]);
    let pids = [
        manager.number_after("pid "),
        manager.number_after("grandchild "),
    ];
    let run = manager.finish();
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with(&format!(
            "rmanager: setup failed: web: http://127.0.0.1:{port}/: status 503 ("
        )),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("started").exists());
    wait_until(
        "the service and its grandchild to be gone",
        PATIENCE,
        || pids.iter().all(|&p| !alive(p)),
    );
}

#[test]
fn http_check_fails_fast_when_its_process_exits_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"processes": {{
            "web": {{"executable": "{service}", "arguments": ["--exit-after-ms", "100", "--code", "7"],
                     "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:{port}/", "timeout": 600}}}}}}
        }}}}"#,
        service = service(),
        port = free_port()
    );
    write(dir.path(), "rmanager.json", config);
    let run = Manager::start(dir.path(), &[]).finish();
    assert_eq!(run.code, 5);
    let (failure, report) = run.stderr.split_once('\n').unwrap();
    assert_eq!(
        failure,
        "rmanager: setup failed: web: exited with code 7 before it became ready; stopped everything"
    );
    // The service printed its pid before it exited: the report quotes it.
    assert!(
        report.starts_with("rmanager: web's last 1 line of output:\n    pid "),
        "{report}"
    );
}

/// Starts rmanager on a single `web` process run as test-service ARGS, behind an http check
/// of `url` with the given extra verifier arguments, plus a `ready` marker line after it.
fn start_web(dir: &std::path::Path, args: &str, url: &str, check: &str, top: &str) -> Manager {
    let config = format!(
        r#"{{{top} "processes": {{
            "web": {{"executable": "{service}", "arguments": [{args}],
                     "verifier": {{"type": "http", "arguments": {{"url": "{url}", {check}}}}}}},
            "marker": {{"executable": "echo", "arguments": ["ready"]}}
        }}}}"#,
        service = service()
    );
    write(dir, "rmanager.json", config);
    Manager::start(dir, &[])
}

#[test]
fn http_check_sends_its_headers() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let args = format!(r#""--listen", "127.0.0.1:{port}", "--require", "X-Token: s3cret""#);
    let url = format!("http://127.0.0.1:{port}/");
    let mut manager = start_web(
        dir.path(),
        &args,
        &url,
        r#""headers": {"X-Token": "s3cret"}"#,
        "",
    );
    manager.lines_starting(&["ready", "rmanager: ready: "]);
    manager.signal(libc::SIGTERM);
    assert_eq!(manager.finish().code, 0);

    let manager = start_web(
        dir.path(),
        &args,
        &url,
        r#""headers": {"X-Token": "wrong"}, "timeout": 0.5, "interval": 0.1"#,
        "",
    );
    let run = manager.finish();
    assert_eq!(run.code, 5);
    assert!(run.stderr.contains(": status 401 ("), "{}", run.stderr);
}

#[test]
fn http_check_follows_redirects_sending_each_request_once() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("requests");
    let args = format!(
        r#""--listen", "127.0.0.1:{port}", "--redirect-to", "/health", "--requests", "{}""#,
        requests.display()
    );
    let url = format!("http://127.0.0.1:{port}/start");
    let mut manager = start_web(dir.path(), &args, &url, r#""timeout": 20"#, "");
    manager.lines_starting(&["ready", "rmanager: ready: "]);
    manager.signal(libc::SIGTERM);
    assert_eq!(manager.finish().code, 0);
    // Each attempt asks for /start, is sent to /health, and asks for that: once each.
    let asked = std::fs::read_to_string(&requests).unwrap();
    let asked: Vec<&str> = asked.lines().collect();
    assert!(
        !asked.is_empty() && asked.chunks(2).all(|pair| pair == ["/start", "/health"]),
        "{asked:?}"
    );

    // A redirect whose code passes is not followed; one that never ends fails.
    let mut manager = start_web(dir.path(), &args, &url, r#""status": 302"#, "");
    manager.lines_starting(&["ready", "rmanager: ready: "]);
    manager.signal(libc::SIGTERM);
    assert_eq!(manager.finish().code, 0);
    let looping = format!(
        r#""--listen", "127.0.0.1:{port}", "--status", "302", "--header", "Location: /again""#
    );
    let manager = start_web(dir.path(), &looping, &url, r#""timeout": 0.5"#, "");
    let run = manager.finish();
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains(&format!("web: {url}: more than 30 redirects (")),
        "{}",
        run.stderr
    );
}

#[test]
fn each_attempt_is_bounded_by_interval_and_reported_when_asked() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let manager = start_web(
        dir.path(),
        &format!(r#""--listen", "127.0.0.1:{port}", "--silent""#),
        &url,
        r#""timeout": 1, "interval": 0.2"#,
        r#""messages": ["verifier.verbose"],"#,
    );
    let run = manager.finish();
    assert_eq!(run.code, 5);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.contains(&format!("rmanager: Verifier: GET {url} (limit 0.2 s)").as_str()),
        "{}",
        run.stdout
    );
    assert!(
        lines.contains(&format!("rmanager: Verifier fail: {url}: no answer within 0.2 s").as_str()),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.starts_with(&format!(
            "rmanager: setup failed: web: {url}: no answer within 0.2 s ("
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn shutdown_during_a_check_stops_waiting_and_exits_5() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut manager = start_web(
        dir.path(),
        r#""--grandchild""#,
        &format!("http://127.0.0.1:{port}/"),
        r#""timeout": 600"#,
        "",
    );
    let pids = [
        manager.number_after("pid "),
        manager.number_after("grandchild "),
    ];
    manager.signal(libc::SIGTERM);
    let run = manager.finish();
    // The environment never came up: exit 5, as the README's table says.
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("rmanager: shut down before every process was ready"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("ready"),
        "nothing launched after the check"
    );
    wait_until("the service to be gone", PATIENCE, || {
        pids.iter().all(|&p| !alive(p))
    });
}
