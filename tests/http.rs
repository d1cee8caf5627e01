//! The HTTP control API over real HTTP on 127.0.0.1, with surf as the client.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use async_std::task::block_on;
use serde_json::{Value, json};
use support::{
    Manager, PATIENCE, StartManager, alive, checked_service, free_port, rmanager_command,
    wait_until, write,
};

/// A running rmanager with its control API on an ephemeral port.
struct Api {
    manager: Manager,
    client: Client,
}

impl std::ops::Deref for Api {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Requests to the API at `base` (`http://127.0.0.1:PORT`).
struct Client {
    base: String,
}

impl Api {
    /// Starts rmanager on `processes` (the inside of the "processes" object) with the API
    /// on port 0, plus `extra` top-level keys.
    fn start(dir: &Path, extra: &str, processes: &str) -> Api {
        write(
            dir,
            "rmanager.json",
            format!(
                r#"{{{extra} "http": {{"enabled": true, "port": 0}}, "processes": {{{processes}}}}}"#
            ),
        );
        let manager = Manager::start(dir, &[]);
        Api::attach(manager)
    }

    /// Reads the API's address from the manager's output.
    fn attach(mut manager: Manager) -> Api {
        let line = manager.line_starting("rmanager: HTTP control listening on ");
        let base = line.rsplit(' ').next().unwrap().to_owned();
        Api {
            manager,
            client: Client { base },
        }
    }
}

impl Client {
    /// The port the API listens on.
    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn call(
        &self,
        method: surf::http::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = surf::Url::parse(&format!("{}{path}", self.base)).unwrap();
        let mut request = surf::RequestBuilder::new(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        block_on(async {
            let mut response = request.await.expect("the API answers");
            let status = u16::from(response.status());
            let is_json = response
                .content_type()
                .is_some_and(|m| m.essence() == "application/json");
            assert!(is_json, "{path}: JSON content type");
            (status, response.body_json().await.expect("a JSON body"))
        })
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call(surf::http::Method::Get, path, &[])
    }

    fn post(&self, path: &str) -> (u16, Value) {
        self.call(surf::http::Method::Post, path, &[])
    }

    fn delete(&self) -> (u16, Value) {
        self.call(surf::http::Method::Delete, "/", &[])
    }

    fn status(&self) -> String {
        self.get("/status").1["status"].as_str().unwrap().to_owned()
    }

    fn pid(&self, id: usize) -> u64 {
        self.get("/").1["processes"][id - 1]["pid"]
            .as_u64()
            .expect("running")
    }
}

fn error(message: &str) -> Value {
    json!({"success": false, "error": {"message": message}})
}

/// `"name": ` a test-service behind an http check, ready once `args` are in effect.
fn web(name: &str, args: &[&str]) -> String {
    format!(r#""{name}": {}"#, checked_service(args, free_port()))
}

#[test]
fn list_status_and_restart_by_id_and_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let processes = format!(r#"{}, "setup": {{"executable": "true"}}"#, web("web", &[]));
    let api = Api::start(dir.path(), "", &processes);
    wait_until("the environment to be running", PATIENCE, || {
        api.status() == "running"
    });
    wait_until("setup to have exited", PATIENCE, || {
        api.get("/").1["processes"][1]["status"] == "terminated"
    });
    let (code, list) = api.get("/");
    assert_eq!(code, 200);
    let pid = api.pid(1);
    assert_eq!(
        list,
        json!({"count": 2, "processes": [
            {"id": 1, "name": "web", "command": list["processes"][0]["command"], "status": "running", "pid": pid},
            {"id": 2, "name": "setup", "command": "true", "status": "terminated", "code": 0}
        ]})
    );
    assert!(
        list["processes"][0]["command"]
            .as_str()
            .unwrap()
            .contains("--listen")
    );

    let (code, body) = api.post("/restart/1");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["success"], true);
    let by_id = body["process"]["pid"].as_u64().unwrap();
    assert_ne!(by_id, pid);
    assert!(!alive(pid as i32));

    let (code, body) = api.post("/restart/web");
    assert_eq!(code, 200, "{body}");
    let by_name = body["process"]["pid"].as_u64().unwrap();
    assert_ne!(by_name, by_id);
    assert_eq!(api.pid(1), by_name);
    assert_eq!(body["process"]["status"], "running");
}

#[test]
fn errors_have_pymanagers_shape_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(
        dir.path(),
        "",
        r#""a": {"executable": "sleep", "arguments": ["600"]}"#,
    );
    assert_eq!(api.post("/restart/x"), (400, error("Invalid ID 'x'.")));
    assert_eq!(
        api.post("/restart/7"),
        (404, error("Process with id '7' not found."))
    );
    assert_eq!(
        api.post("/restart/0"),
        (404, error("Process with id '0' not found."))
    );
    assert_eq!(api.get("/nowhere"), (404, error("Not found.")));
    assert_eq!(
        api.call(surf::http::Method::Put, "/", &[]),
        (405, error("Method not allowed."))
    );
    assert_eq!(api.get("/restart/1"), (405, error("Method not allowed.")));
}

#[test]
fn a_restart_whose_verifier_fails_answers_500_and_the_environment_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("fail");
    let processes = format!(
        r#""check": {{"executable": "sh", "arguments": ["-c", "echo checking; test ! -e {} || {{ echo 'marker found'; exit 1; }}"], "verifier": {{"type": "exited"}}}},
           "other": {{"executable": "sleep", "arguments": ["600"]}}"#,
        marker.display()
    );
    let api = Api::start(dir.path(), "", &processes);
    wait_until("running", PATIENCE, || api.status() == "running");
    let other = api.pid(2);
    std::fs::write(&marker, "").unwrap();
    let mut failed = error("check: exited with code 1, expected exit code 0");
    failed["output"] = serde_json::json!(["checking", "marker found"]);
    assert_eq!(api.post("/restart/check"), (500, failed));
    assert_eq!(api.status(), "running");
    assert_eq!(api.pid(2), other);
}

/// A job that panics (a bug, injected here) answers its restart with 500 and the reason;
/// its process is killed with it, and the rest of the environment runs on.
#[test]
fn a_restart_whose_job_panics_answers_500_and_kills_only_that_process() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"http": {"enabled": true, "port": 0}, "processes": {
            "web": {"executable": "sleep", "arguments": ["600"]},
            "other": {"executable": "sleep", "arguments": ["600"]}}}"#,
    );
    let manager = rmanager_command(dir.path())
        .env("RMANAGER_FAULT", "restart:web")
        .start();
    let api = Api::attach(manager);
    wait_until("running", PATIENCE, || api.status() == "running");
    let (web, other) = (api.pid(1), api.pid(2));
    let failed = |reason: &str| {
        let mut failed = error(&format!("web: internal error: {reason}"));
        failed["output"] = json!([]);
        (500, failed)
    };
    assert_eq!(
        api.post("/restart/web"),
        failed("fault injected at restart:web")
    );
    wait_until("web killed", PATIENCE, || !alive(web as i32));
    assert_eq!(api.status(), "running");
    assert_eq!(api.pid(2), other);
    assert_eq!(
        api.post("/restart/web"),
        failed("its job ended in an earlier panic")
    );
}

/// While a restart waits for a process that ignores SIGTERM, the API answers everything
/// else, and a second restart of the same process waits its turn.
#[test]
fn requests_are_answered_while_a_restart_runs_and_restarts_of_one_process_queue() {
    let dir = tempfile::tempdir().unwrap();
    let processes = format!(
        r#"{}, "plain": {{"executable": "sleep", "arguments": ["600"]}}"#,
        web("stubborn", &["--ignore-term"])
    );
    let api = Api::start(dir.path(), r#""graceful_time": 2,"#, &processes);
    wait_until("running", PATIENCE, || api.status() == "running");
    let first = api.pid(1);
    let client = &api.client;
    let (one, two) = std::thread::scope(|s| {
        let one = s.spawn(|| client.post("/restart/stubborn"));
        // The first restart is under way once its process got SIGTERM; it now waits 2 s.
        std::thread::sleep(Duration::from_millis(200));
        let two = s.spawn(|| client.post("/restart/1"));
        // Meanwhile every other request is answered, without waiting for the restart:
        // the old process is still in its grace time.
        assert_eq!(client.get("/").1["processes"][0]["pid"], first);
        assert_eq!(client.status(), "running");
        assert_eq!(client.post("/restart/plain").0, 200);
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    // Serialized: the later restart replaced what the earlier one started, so exactly one
    // new process is left, and no untracked one.
    let new = [&one, &two].map(|r| r.1["process"]["pid"].as_u64().unwrap());
    let current = api.pid(1);
    assert!(new.contains(&current) && new[0] != new[1] && !new.contains(&first));
    let replaced = if new[0] == current { new[1] } else { new[0] };
    assert!(!alive(replaced as i32));
    assert!(!alive(first as i32));
}

#[test]
fn during_shutdown_only_status_answers() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(
        dir.path(),
        r#""graceful_time": 600,"#,
        &web("stubborn", &["--ignore-term"]),
    );
    wait_until("running", PATIENCE, || api.status() == "running");
    let pid = api.pid(1);
    assert_eq!(api.delete(), (200, json!({"success": true})));
    assert_eq!(api.get("/"), (403, error("Process is in shutdown.")));
    assert_eq!(
        api.post("/restart/1"),
        (403, error("Process is in shutdown."))
    );
    assert_eq!(api.delete(), (403, error("Process is in shutdown.")));
    assert_eq!(api.status(), "shutdown");
    assert!(alive(pid as i32), "still in its 600 s of grace");

    // A SIGINT during a shutdown begun by DELETE kills at once.
    api.manager.signal(libc::SIGINT);
    let run = api.manager.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    wait_until("the process to be gone", PATIENCE, || !alive(pid as i32));
}

#[test]
fn status_answers_while_the_environment_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("go");
    let processes = format!(
        r#""slow": {{"executable": "sh", "arguments": ["-c", "while [ ! -e {} ]; do sleep 0.05; done"], "verifier": {{"type": "exited"}}}}"#,
        ready.display()
    );
    let api = Api::start(dir.path(), r#""keep_alive": true,"#, &processes);
    wait_until("slow to be started", PATIENCE, || {
        api.get("/").1["processes"][0]["status"] == "running"
    });
    assert_eq!(api.status(), "launching processes");
    assert_eq!(
        api.post("/restart/slow"),
        (409, error("The environment is still starting."))
    );
    std::fs::write(&ready, "").unwrap();
    wait_until("running", PATIENCE, || api.status() == "running");
}

#[test]
fn a_port_in_use_is_a_setup_error_before_anything_launches() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"http": {{"enabled": true, "port": {port}}}, "processes": {{"a": {{"executable": "touch", "arguments": ["launched"]}}}}}}"#
        ),
    );
    let run = support::run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.starts_with(&format!(
            "rmanager: setup failed: the HTTP control API: cannot listen on 127.0.0.1:{port}: "
        )),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("launched").exists());
}

#[test]
fn host_origin_and_token_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(
        dir.path(),
        "",
        r#""a": {"executable": "sleep", "arguments": ["600"]}"#,
    );
    let port = api.port();
    let get = |headers: &[(&str, &str)]| api.call(surf::http::Method::Get, "/", headers).0;
    assert_eq!(get(&[("Host", "attacker.example:80")]), 403);
    assert_eq!(get(&[("Host", &format!("attacker.example:{port}"))]), 403);
    assert_eq!(get(&[("Host", &format!("localhost:{port}"))]), 200);
    assert_eq!(get(&[("Origin", "http://attacker.example")]), 403);
    assert_eq!(get(&[("Origin", &api.base)]), 200);
    drop(api);

    for http in [
        r#""token": "s3cret""#.to_owned(),
        r#""token_env": "RMANAGER_TEST_TOKEN""#.to_owned(),
    ] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{"http": {{"enabled": true, "port": 0, {http}}}, "processes": {{"a": {{"executable": "sleep", "arguments": ["600"]}}}}}}"#
            ),
        );
        let api = Api::attach(
            support::rmanager_command(dir.path())
                .env("RMANAGER_TEST_TOKEN", "s3cret")
                .start(),
        );
        assert_eq!(api.get("/").0, 401);
        assert_eq!(
            api.call(
                surf::http::Method::Get,
                "/",
                &[("Authorization", "Bearer wrong")]
            )
            .0,
            401
        );
        assert_eq!(
            api.call(
                surf::http::Method::Get,
                "/",
                &[("Authorization", "Bearer s3cret")]
            )
            .0,
            200
        );
        // RFC 6750: the scheme name is case-insensitive.
        for scheme in ["bearer", "BEARER"] {
            let header = format!("{scheme} s3cret");
            let headers = [("Authorization", header.as_str())];
            assert_eq!(api.call(surf::http::Method::Get, "/", &headers).0, 200);
        }
        assert_eq!(api.get("/status").0, 200, "status needs no token");
        assert_eq!(api.delete().0, 401);
    }
}

#[test]
fn conflicting_host_or_length_headers_are_refused() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(
        dir.path(),
        "",
        r#""a": {"executable": "sleep", "arguments": ["600"]}"#,
    );
    let port = api.port();
    for extra in [
        format!("Host: 127.0.0.1:{port}\r\nHost: localhost:{port}"),
        format!("Host: 127.0.0.1:{port}\r\nContent-Length: 0\r\nContent-Length: 5"),
    ] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(support::PATIENCE)).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\n{extra}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        // The status line is enough: the server may keep the connection open.
        let mut answer = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut answer)
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{extra}: {answer}");
    }
}

#[test]
fn malformed_requests_never_stop_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(
        dir.path(),
        "",
        r#""a": {"executable": "sleep", "arguments": ["600"]}"#,
    );
    let address = api.base.trim_start_matches("http://").to_owned();
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        format!(
            "GET /{} HTTP/1.1\r\nHost: {address}\r\n\r\n",
            "a".repeat(100_000)
        )
        .into_bytes(),
        format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nX: {}\r\n\r\n",
            "b".repeat(100_000)
        )
        .into_bytes(),
        b"POST /restart/1 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc".to_vec(),
        b"GET / HTTP/1.1\r\nHost: ".to_vec(),
    ];
    for _ in 0..5 {
        for request in &garbage {
            let Ok(mut stream) = TcpStream::connect(&address) else {
                panic!("the API stopped accepting connections")
            };
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let _ = stream.write_all(request);
            let _ = stream.read(&mut [0; 256]);
        }
    }
    // Slow clients: connections that send half a request, or nothing, and stay open.
    let idle: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut stream = TcpStream::connect(&address).unwrap();
            if i % 2 == 0 {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHo");
            }
            stream
        })
        .collect();
    // A burst of requests, all answered.
    for _ in 0..300 {
        assert_eq!(api.status(), "running");
    }
    assert_eq!(api.get("/").0, 200);
    drop(idle);
}

/// Connections that announce a body and never send it, more of them than rmanager may
/// open descriptors: the API answers again within moments, and everything still works.
#[test]
fn slow_and_flooding_clients_cannot_lock_the_api() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"http": {"enabled": true, "port": 0, "token": "s3cret"}, "keep_alive": true,
            "processes": {"a": {"executable": "sleep", "arguments": ["600"]}}}"#,
    );
    let manager = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\""])
        .arg(env!("CARGO_BIN_EXE_rmanager"))
        .current_dir(dir.path())
        .start();
    let api = Api::attach(manager);
    let port = api.port();
    let head = format!(
        "POST /restart/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 1000000\r\n\r\n"
    );
    let held: Vec<_> = (0..300)
        .filter_map(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            stream.write_all(head.as_bytes()).ok()?;
            Some(stream)
        })
        .collect();
    assert!(held.len() > 256, "the flood got through to the server");
    // A request on a new connection, which the server may close unanswered while it is full.
    let answered = || -> Option<String> {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(PATIENCE)).ok()?;
        let request = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    wait_until("the API to answer again", PATIENCE, || {
        answered().is_some_and(|a| a.starts_with("HTTP/1.1 200"))
    });
    drop(held);
    let (status, _) = api.call(
        surf::http::Method::Delete,
        "/",
        &[("Authorization", "Bearer s3cret")],
    );
    assert_eq!(status, 200);
    let Api { manager, .. } = api;
    assert_eq!(manager.finish().code, 0);
}
