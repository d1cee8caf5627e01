//! Children's output through rmanager: labelled lines that never interleave, the raw mode,
//! line ends a `log` check sees, bounded memory, and the failure report's last lines.

mod support;

use support::{run_in, write};

/// One line of `--events` output.
fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn lines_from_two_chatty_children_are_labelled_and_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = ("A".repeat(300), "B".repeat(300));
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"startup": "parallel", "processes": {{
                "a": {{"executable": "yes {a} | head -n 20000", "options": {{"shell": true}}}},
                "bee": {{"executable": "yes {b} | head -n 20000", "options": {{"shell": true}}}}
            }}}}"#
        ),
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Every line is one child's alone, and every byte arrived. (A line a child leaves
    // unfinished for 50 ms, as a loaded machine may make it, is passed on in two.)
    let (mut from_a, mut from_b) = (0, 0);
    for line in support::without_launch_lines(&run.stdout, &["a", "bee"]).lines() {
        match line.split_once(" | ") {
            Some(("a  ", text)) if text.bytes().all(|c| c == b'A') => from_a += text.len(),
            Some(("bee", text)) if text.bytes().all(|c| c == b'B') => from_b += text.len(),
            _ => panic!("a line that mixes the children: {line:.80}"),
        }
    }
    assert_eq!((from_a, from_b), (20000 * a.len(), 20000 * b.len()));
}

#[test]
fn raw_output_is_the_childs_bytes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = "one\rtwo\r\nthree\n\nno end";
    for (config, args) in [
        (r#""output": {"prefix": false}, "#, &[][..]),
        ("", &["--raw"][..]),
    ] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{{config}"processes": {{"p": {{"executable": "printf", "arguments": ["{}"]}}}}}}"#,
                bytes.escape_default()
            ),
        );
        let run = run_in(dir.path(), args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(support::without_launch_lines(&run.stdout, &["p"]), bytes);
    }
}

#[test]
fn a_line_ended_by_a_carriage_return_or_by_quiet_passes_a_log_check() {
    let dir = tempfile::tempdir().unwrap();
    for printed in [r"ready\r", "ready"] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{"processes": {{
                    "p": {{"executable": "printf '{printed}'; sleep 600", "options": {{"shell": true}},
                           "verifier": {{"type": "log", "arguments": {{"pattern": "^ready$", "timeout": 10}}}}}}
                }}}}"#
            ),
        );
        let run = run_in(dir.path(), &["--", "true"]);
        assert_eq!(run.code, 0, "{printed}: {}", run.stderr);
        assert!(run.stdout.contains("p | ready\n"), "{}", run.stdout);
    }
}

#[test]
fn a_setup_failure_reports_the_last_lines_of_a_suppressed_service() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "db": {"executable": "exec >&2; for i in $(seq 40); do echo \"db line $i\"; done; echo 'fatal: no space'; exit 3",
                   "options": {"shell": true, "suppress_output": true},
                   "verifier": {"type": "exited"}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert!(
        !run.stdout.contains("db line"),
        "suppressed: {}",
        run.stdout
    );
    let mut expected = vec![
        "rmanager: setup failed: db: exited with code 3, expected exit code 0; stopped everything"
            .to_owned(),
        "rmanager: db's last 30 lines of output:".to_owned(),
    ];
    // One stream (stderr), so the order is the child's.
    expected.extend((12..=40).map(|i| format!("    db line {i}")));
    expected.push("    fatal: no space".to_owned());
    assert_eq!(run.stderr.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_child_printing_500_mb_without_a_newline_keeps_rmanager_small() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "flood": {"executable": "head -c 500000000 /dev/zero | tr '\\0' x",
                      "options": {"shell": true, "redirect_output": "/dev/null"},
                      "verifier": {"type": "exited", "arguments": {"timeout": 300}}}
        }}"#,
    );
    // Once the flood has been read, the fixture COMMAND reads rmanager's peak memory.
    let run = run_in(
        dir.path(),
        &["--", "sh", "-c", "grep VmHWM /proc/$PPID/status"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kib: u64 = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(kib < 64 * 1024, "rmanager's peak resident memory: {kib} kB");
}

#[test]
fn the_logfile_receives_the_failure_report_too() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"db": {"executable": "echo 'cannot bind'; exit 1", "options": {"shell": true},
                                 "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["-l", "manager.log"]);
    assert_eq!(run.code, 5);
    let report = "rmanager: setup failed: db: exited with code 1, expected exit code 0; \
                  stopped everything\nrmanager: db's last 1 line of output:\n    cannot bind\n";
    assert_eq!(run.stderr, report);
    let log = std::fs::read_to_string(dir.path().join("manager.log")).unwrap();
    assert!(log.ends_with(report), "{log}");
}

#[test]
fn a_process_that_fails_while_running_is_named_with_its_last_lines_when_unseen() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"keep_alive": true, "processes": {
            "quiet": {"executable": "echo 'disk full' >&2; exit 4", "options": {"shell": true, "suppress_output": true}},
            "loud": {"executable": "echo 'said it'; kill -9 $$", "options": {"shell": true}}
        }}"#,
    );
    let mut manager = support::Manager::start(dir.path(), &[]);
    manager.lines_starting(&[
        "rmanager: quiet exited with code 4",
        "rmanager: loud was killed by signal 9",
    ]);
    manager.signal(libc::SIGTERM);
    let stdout = manager.finish().stdout;
    // The suppressed one's reason follows its line; the other's was on the terminal.
    // (finish() joins the lines read: the last has no newline after it.)
    assert!(
        stdout.contains(
            "rmanager: quiet exited with code 4\nrmanager: quiet's last 1 line of output:\n    disk full"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("loud's last"), "{stdout}");
    // A process's last line comes before what rmanager says of its end.
    let at = |wanted: &str| stdout.lines().position(|l| l == wanted);
    let (said, killed) = (
        at("loud  | said it"),
        at("rmanager: loud was killed by signal 9"),
    );
    assert!(said.is_some() && said < killed, "{stdout}");
}

#[test]
fn timestamps_follow_the_name_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for (config, args) in [
        (r#""output": {"timestamps": true}, "#, &[][..]),
        ("", &["--timestamps"][..]),
    ] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{{config}"processes": {{"p": {{"executable": "echo", "arguments": ["hi"]}}}}}}"#
            ),
        );
        let run = run_in(dir.path(), args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let line = run.stdout.lines().find(|l| l.starts_with("p | ")).unwrap();
        // p | 2026-11-30T16:11:31.123Z hi
        let (stamp, text) = line["p | ".len()..].split_once(' ').unwrap();
        assert_eq!(text, "hi");
        let bytes = stamp.as_bytes();
        assert_eq!(
            (stamp.len(), bytes[4], bytes[10], bytes[19], bytes[23]),
            (24, b'-', b'T', b'.', b'Z'),
            "{line}"
        );
    }
}

#[test]
fn a_failure_report_names_what_else_failed_during_setup() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"startup": "parallel", "processes": {
            "cache": {"executable": "echo 'bad config'; exit 1", "options": {"shell": true, "suppress_output": true}},
            "web": {"executable": "sleep", "arguments": ["600"],
                    "verifier": {"type": "exited", "arguments": {"timeout": 2}}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr,
        "rmanager: setup failed: web: did not exit within 2 s; stopped everything\n\
         rmanager: cache exited with code 1 during setup\n\
         rmanager: cache's last 1 line of output:\n    bad config\n"
    );
    assert!(
        !run.stdout.contains("cache exited"),
        "told once: {}",
        run.stdout
    );
}

#[test]
fn a_failure_during_a_successful_launch_is_told_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"startup": "parallel", "processes": {
            "cache": {"executable": "echo 'bad config'; exit 1", "options": {"shell": true, "suppress_output": true}},
            "step": {"executable": "true", "verifier": {"type": "exited"}}
        }}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let told = "rmanager: cache exited with code 1\nrmanager: cache's last 1 line of output:\n    bad config\n";
    assert_eq!(run.stdout.matches(told).count(), 1, "{}", run.stdout);
}

#[test]
fn a_python_child_on_a_pseudo_terminal_passes_a_log_check_unbuffered() {
    let dir = tempfile::tempdir().unwrap();
    for (tty, code) in [(true, 0), (false, 5)] {
        write(
            dir.path(),
            "rmanager.json",
            format!(
                r#"{{"processes": {{
                    "py": {{"executable": "python3", "arguments": ["-c", "import time; print('ready'); time.sleep(600)"],
                            "options": {{"tty": {tty}}},
                            "verifier": {{"type": "log", "arguments": {{"pattern": "^ready$", "timeout": 3}}}}}}
                }}}}"#
            ),
        );
        // Python buffers a pipe until it exits: only the terminal makes it print at once.
        let run = support::rmanager()
            .current_dir(dir.path())
            .env_remove("PYTHONUNBUFFERED")
            .args(["--", "true"])
            .output()
            .unwrap();
        let run = support::Run::from(run);
        assert_eq!(run.code, code, "tty {tty}: {}", run.stderr);
        if tty {
            assert!(run.stdout.contains("py | ready\n"), "{}", run.stdout);
        }
    }
}

#[test]
fn events_tell_the_whole_story_of_a_run_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"graceful_time": 0.5, "processes": {
            "setup": {"executable": "true", "verifier": {"type": "exited"}},
            "stubborn": {"executable": "trap '' TERM; echo up; sleep 600", "options": {"shell": true},
                         "verifier": {"type": "log", "arguments": {"pattern": "up"}}}
        }}"#,
    );
    let run = run_in(dir.path(), &["--events", "events.jsonl", "--", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(json).collect();
    for event in &events {
        assert!(
            event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{event}"
        );
    }
    let story: Vec<String> = events
        .iter()
        .map(|e| match e["process"].as_str() {
            Some(process) => format!("{} {process}", e["event"].as_str().unwrap()),
            None => e["event"].as_str().unwrap().to_owned(),
        })
        .collect();
    assert_eq!(
        story,
        [
            "started setup",
            // Its check passes as it exits; its exit is told once its group is empty.
            "ready setup",
            "exited setup",
            "started stubborn",
            "ready stubborn",
            "environment_ready",
            "shutdown_begun",
            "killed stubborn",
            "shutdown_finished"
        ],
        "{text}"
    );
    let started = &events[3];
    assert!(started["pid"].as_u64().is_some_and(|p| p > 1), "{started}");
    assert_eq!(events[2]["code"], 0);
}

#[test]
fn events_tell_a_failed_launch_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"db": {"executable": "false", "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["--events", "-"]);
    assert_eq!(run.code, 5);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let at = |kind: &str| kinds.iter().position(|k| *k == kind);
    assert!(
        at("started") < at("failed")
            && at("failed") < at("environment_failed")
            && at("environment_failed") < at("shutdown_begun")
            && at("shutdown_begun") < at("shutdown_finished")
            && at("started").is_some(),
        "{kinds:?}"
    );
    let failed = &events[at("failed").unwrap()];
    assert_eq!(failed["reason"], "exited with code 1, expected exit code 0");
}

#[test]
fn events_tell_each_failed_attempt_of_a_check() {
    let dir = tempfile::tempdir().unwrap();
    // A file check, attempted one by one, and a loopback tcp check, which waits in the
    // prober thread.
    let port = support::free_port();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"processes": {{
                "maker": {{"executable": "sleep 0.3; touch made; exec sleep 600", "options": {{"shell": true}},
                           "verifier": {{"type": "file", "arguments": {{"path": "made"}}}}}},
                "web": {{"executable": "{}", "arguments": ["--delay-ms", "300", "--listen", "127.0.0.1:{port}"],
                         "verifier": {{"type": "tcp", "arguments": {{"port": {port}}}}}}}
            }}}}"#,
            support::service()
        ),
    );
    let run = run_in(dir.path(), &["--events", "events.jsonl", "--", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(json).collect();
    for (process, reason) in [
        ("maker", "file made: no such file or directory".to_owned()),
        ("web", format!("tcp 127.0.0.1:{port}: connection refused")),
    ] {
        let of_process: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["process"] == process).collect();
        let kinds: Vec<&str> = of_process
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        let failed = kinds.iter().position(|k| *k == "check_attempt_failed");
        let last_failed = kinds.iter().rposition(|k| *k == "check_attempt_failed");
        let ready = kinds.iter().position(|k| *k == "ready");
        assert!(
            failed.is_some() && kinds.first() == Some(&"started") && last_failed < ready,
            "{process}: {text}"
        );
        assert_eq!(of_process[failed.unwrap()]["reason"], reason.as_str());
    }
}

#[test]
fn names_are_coloured_when_asked_for_and_fixture_mode_prints_the_report() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"p": {"executable": "echo", "arguments": ["hi"]}}}"#,
    );
    let coloured = run_in(dir.path(), &["--color", "always"]);
    assert!(
        coloured.stdout.contains("\x1b[36mp |\x1b[0m hi\n"),
        "{:?}",
        coloured.stdout
    );
    let plain = run_in(dir.path(), &["--color", "never"]);
    assert!(plain.stdout.contains("p | hi\n"), "{:?}", plain.stdout);

    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"db": {"executable": "echo 'cannot bind'; exit 1", "options": {"shell": true},
                                 "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["--", "touch", "ran"]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .ends_with("rmanager: db's last 1 line of output:\n    cannot bind\n"),
        "{}",
        run.stderr
    );
}
