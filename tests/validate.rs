//! `rmanager --validate`: messages, positions and exit codes, run on the built binary.

mod support;

use std::os::fd::FromRawFd;

use support::{repo, rmanager, run_in, validate, write};

/// A config whose only problem is at `/processes/web/verifier/arguments/interval`, 13:23.
const INTERVAL_FAST: &str = r#"{
  "processes": {
    "web": {
      "executable": "python3",
      "arguments": ["-m", "http.server"],
      "options": {
        "suppress_output": true
      },
      "verifier": {
        "type": "http",
        "arguments": {
          "url": "http://127.0.0.1:8000/",
          "interval": "fast"
        }
      }
    }
  }
}"#;

fn stderr_lines(text: &str) -> Vec<String> {
    let run = validate(text);
    assert_eq!(
        run.code, 3,
        "exit code for an invalid file; stderr: {}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    run.stderr.lines().map(str::to_owned).collect()
}

#[test]
fn valid_file_is_reported_with_its_process_count() {
    let run =
        validate(r#"{"processes": {"a": {"executable": "true"}, "b": {"executable": "true"}}}"#);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "rmanager.json: valid (2 processes)\n", "")
    );
    let run = validate(r#"{"processes": {"a": {"executable": "true"}}}"#);
    assert_eq!(run.stdout, "rmanager.json: valid (1 process)\n");
}

#[test]
fn wrong_type_names_file_position_pointer_and_what_is_allowed() {
    assert_eq!(
        stderr_lines(INTERVAL_FAST),
        [
            r#"rmanager.json:13:23: /processes/web/verifier/arguments/interval: expected a number of seconds > 0, found "fast""#,
            "rmanager: rmanager.json: 1 error",
        ]
    );
}

#[test]
fn misspelt_key_is_located_at_the_key_with_a_suggestion() {
    let text =
        "{\n  \"processes\": {\n    \"web\": {\"executable\": \"x\", \"optoins\": {}}\n  }\n}";
    assert_eq!(
        stderr_lines(text)[0],
        r#"rmanager.json:3:32: /processes/web/optoins: unknown key "optoins"; did you mean "options"?"#
    );
    let text = r#"{"processes": {"web": {"executable": "x"}}, "colour": 1}"#;
    assert_eq!(
        stderr_lines(text)[0],
        "rmanager.json:1:45: /colour: unknown key \"colour\"; allowed here: $schema, modules, http, \
         keep-alive, keep_alive, graceful_time, default_shell, messages, output, startup, environment, env_file, ports, processes"
    );
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let text = r#"{
  "graceful_time": -1,
  "messages": ["process.exits"],
  "http": {"port": 70000},
  "processes": {
    "a": {"arguments": [1]},
    "b": {"executable": "x", "options": {"shell": 3}},
    "c": {"executable": "x", "verifier": {"type": "http"}},
    "d": {"executable": "x", "verifier": {"type": "exited", "arguments": {"expect_code": "0"}}}
  }
}"#;
    assert_eq!(
        stderr_lines(text),
        [
            "rmanager.json:2:20: /graceful_time: expected a number of seconds >= 0, found -1",
            r#"rmanager.json:3:16: /messages/0: expected one of "process.exit", "verifier.fail", "verifier.verbose", found "process.exits"; did you mean "process.exit"?"#,
            "rmanager.json:4:20: /http/port: expected an integer from 0 to 65535, found 70000",
            r#"rmanager.json:6:10: /processes/a: missing required key "executable""#,
            "rmanager.json:6:25: /processes/a/arguments/0: expected a string, found 1",
            "rmanager.json:7:51: /processes/b/options/shell: expected true, false, or a shell's name or path, found 3",
            r#"rmanager.json:8:42: /processes/c/verifier: missing required key "arguments""#,
            r#"rmanager.json:9:90: /processes/d/verifier/arguments/expect_code: expected an integer from -64 to 255, found "0""#,
            "rmanager: rmanager.json: 8 errors",
        ]
    );
}

#[test]
fn misspelt_verifier_type_gets_the_list_and_a_suggestion() {
    let text = r#"{"processes": {"a": {"executable": "x", "verifier": {"type": "htp", "arguments": {}}}}}"#;
    assert_eq!(
        stderr_lines(text)[0],
        r#"rmanager.json:1:62: /processes/a/verifier/type: expected one of "http", "pymutils.http_verifier.HttpOkVerifier", "exited", "pymutils.exited_verifier.ExitedVerifier", "tcp", "command", "log", "file", found "htp"; did you mean "http"?"#
    );
}

#[test]
fn module_class_verifier_must_be_loaded_in_modules() {
    let text = r#"{"processes": {"a": {"executable": "x", "verifier": {"type": "pymutils.exited_verifier.ExitedVerifier"}}}}"#;
    assert_eq!(
        stderr_lines(text)[0],
        r#"rmanager.json:1:62: /processes/a/verifier/type: verifier "pymutils.exited_verifier.ExitedVerifier" is not loaded: add "pymutils.exited_verifier": {"verifiers": ["ExitedVerifier"]} to "modules", or use the short type "exited""#
    );
    let loaded = r#"{"modules": {"pymutils.exited_verifier": {"verifiers": ["ExitedVerifier"]}},
        "processes": {"a": {"executable": "x", "verifier": {"type": "pymutils.exited_verifier.ExitedVerifier"}}}}"#;
    assert_eq!(validate(loaded).code, 0);
}

#[test]
fn unknown_modules_and_classes_name_the_built_in_ones() {
    let text = r#"{
  "modules": {
    "mychecks": {"verifiers": ["Ping"]},
    "pymutils.http_verifier": {"verifiers": ["HttpOk"]}
  },
  "processes": {"a": {"executable": "x"}}
}"#;
    assert_eq!(
        stderr_lines(text)[..2],
        [
            r#"rmanager.json:3:5: /modules/mychecks: unknown module "mychecks" rmanager runs no Python code; its modules are pymutils.http_verifier, pymutils.exited_verifier"#,
            r#"rmanager.json:4:46: /modules/pymutils.http_verifier/verifiers/0: module "pymutils.http_verifier" has no verifier "HttpOk"; it provides HttpOkVerifier"#,
        ]
    );
}

#[test]
fn options_that_exclude_each_other_are_refused() {
    let text = r#"{"keep-alive": true, "keep_alive": true,
  "processes": {"a": {"executable": "x", "options": {"suppress_output": true, "redirect_output": "a.log"}}}}"#;
    assert_eq!(
        stderr_lines(text)[..2],
        [
            r#"rmanager.json:1:22: /keep_alive: both "keep-alive" and "keep_alive" are given; keep one"#,
            r#"rmanager.json:2:79: /processes/a/options/redirect_output: "suppress_output" and "redirect_output" exclude each other; keep one"#,
        ]
    );
}

#[test]
fn http_check_urls_must_be_plain_http_and_well_formed() {
    let text = r#"{"processes": {
  "a": {"executable": "x", "verifier": {"type": "http", "arguments": {"url": "https://localhost/"}}},
  "b": {"executable": "x", "verifier": {"type": "http", "arguments": {"url": "http://:80/"}}}}}"#;
    assert_eq!(
        stderr_lines(text),
        [
            r#"rmanager.json:2:78: /processes/a/verifier/arguments/url: expected a plain http:// URL (rmanager's checks do not speak https), found "https://localhost/""#,
            r#"rmanager.json:3:78: /processes/b/verifier/arguments/url: "http://:80/" is not a valid URL: empty host"#,
            "rmanager: rmanager.json: 2 errors",
        ]
    );
}

#[test]
fn token_and_token_env_exclude_each_other() {
    let text =
        r#"{"http": {"token": "a", "token_env": "B"}, "processes": {"a": {"executable": "x"}}}"#;
    assert_eq!(
        stderr_lines(text)[0],
        r#"rmanager.json:1:25: /http/token_env: "token" and "token_env" exclude each other; keep one"#
    );
}

#[test]
fn duplicate_process_names_are_detected() {
    let text = "{\"processes\": {\n  \"web\": {\"executable\": \"a\"},\n  \"web\": {\"executable\": \"b\"}\n}}";
    assert_eq!(
        stderr_lines(text)[0],
        r#"rmanager.json:3:3: /processes/web: duplicate process name "web" (first at line 2); JSON keeps only the last, so rename or remove one"#
    );
}

#[test]
fn broken_input_of_every_kind_is_an_error_not_a_panic() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"",
            r#"rmanager.json:1:1: the file is empty; expected a JSON object with "processes""#,
        ),
        (
            b"  \n ",
            r#"rmanager.json:1:1: the file is empty; expected a JSON object with "processes""#,
        ),
        (
            b"{\n  \"processes\": {\xff}",
            "rmanager.json:2:17: not UTF-8 text (invalid byte 0xff); save the file as UTF-8",
        ),
        (
            b"{\"processes\": {\"a\": {\"executable\": \"x\",}}}",
            "rmanager.json:1:40: not valid JSON: trailing comma",
        ),
        (
            b"[1, 2]",
            "rmanager.json:1:1: expected an object, found an array",
        ),
        (
            b"\"processes\"",
            r#"rmanager.json:1:1: expected an object, found "processes""#,
        ),
    ];
    for (text, first_line) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "rmanager.json", text);
        let run = run_in(dir.path(), &["--validate"]);
        assert_eq!(
            run.code,
            3,
            "{:?}: {}",
            String::from_utf8_lossy(text),
            run.stderr
        );
        assert_eq!(run.stderr.lines().next(), Some(*first_line));
    }

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let run = validate(&deep);
    assert_eq!(
        run.stderr.lines().next(),
        Some("rmanager.json:1:128: not valid JSON: recursion limit exceeded")
    );

    let huge = format!(
        r#"{{"processes": {{"a": {{"executable": "{}"}}}}}}"#,
        "x".repeat(50 << 20)
    );
    let run = validate(&huge);
    assert_eq!(
        run.stderr.lines().next(),
        Some(
            "rmanager.json:1:1: the file is larger than 4 MiB, the most a configuration file may be"
        )
    );
}

#[test]
fn a_file_wrong_everywhere_reports_the_first_hundred_errors() {
    let items = vec!["1"; 5000].join(",");
    let lines = stderr_lines(&format!(
        r#"{{"processes": {{"a": {{"executable": "x", "arguments": [{items}]}}}}}}"#
    ));
    assert_eq!(lines.len(), 101);
    assert_eq!(
        lines[0],
        "rmanager.json:1:55: /processes/a/arguments/0: expected a string, found 1"
    );
    assert_eq!(lines[100], "rmanager: rmanager.json: 100 or more errors");
}

#[test]
fn missing_or_empty_processes_exit_4() {
    for text in [r#"{"http": {"enabled": true}}"#, r#"{"processes": {}}"#] {
        let run = validate(text);
        assert_eq!(run.code, 4, "{text}");
        assert_eq!(
            run.stderr,
            "rmanager.json: no processes: list at least one under \"processes\"\n"
        );
    }
    // With other problems too, it is simply invalid, and every problem is listed.
    let run = validate(r#"{"http": {"enabled": 1}}"#);
    assert_eq!(run.code, 3);
    assert_eq!(run.stderr.lines().count(), 3, "{}", run.stderr);
}

#[test]
fn file_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &["--validate"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            "rmanager.json: no such file (nor pymanager.json); name one with -f FILE\n"
        )
    );
    let run = run_in(dir.path(), &["--validate", "-f", "other.json"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "other.json: no such file\n")
    );

    // A directory opens but cannot be read.
    std::fs::create_dir(dir.path().join("conf.json")).unwrap();
    let run = run_in(dir.path(), &["--validate", "--file", "conf.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("conf.json: cannot read: "),
        "{}",
        run.stderr
    );

    let run = run_in(dir.path(), &["--no-such-flag"]);
    assert_eq!(run.code, 2, "a usage error: {}", run.stderr);
}

#[test]
fn pymanager_json_is_used_when_it_is_the_only_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pymanager.json",
        r#"{"processes": {"a": {"executable": "x", "arguments": []}}}"#,
    );
    let run = run_in(dir.path(), &["--validate"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "pymanager.json: valid (1 process)\n")
    );

    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "x"}, "b": {"executable": "y"}}}"#,
    );
    let run = run_in(dir.path(), &["--validate"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "rmanager.json: valid (2 processes)\n")
    );
}

#[test]
fn version_flag() {
    let run = run_in(repo(), &["-V"]);
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, concat!("rmanager ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn every_example_declares_the_schema_and_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["$schema"],
            "../schema/rmanager.schema.json",
            "{}",
            path.display()
        );
        let run = run_in(repo(), &["--validate", "-f", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        seen += 1;
    }
    assert!(
        seen >= 2,
        "examples/ holds at least basic.json and pymanager.json"
    );
}

#[test]
fn committed_schema_matches_the_generated_one() {
    let output = rmanager().arg("--print-schema").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(repo().join("schema/rmanager.schema.json")).unwrap();
    assert!(
        String::from_utf8(output.stdout).unwrap() == committed,
        "schema/rmanager.schema.json is stale: regenerate it with \
         `cargo run -- --print-schema > schema/rmanager.schema.json`"
    );
}

#[test]
fn depends_on_names_must_exist_come_earlier_and_form_no_cycle() {
    let sequential = r#"{"processes": {
  "a": {"executable": "x", "depends_on": ["b"]},
  "b": {"executable": "x", "depends_on": ["b", "wab"]},
  "web": {"executable": "x"}}}"#;
    assert_eq!(
        stderr_lines(sequential),
        [
            r#"rmanager.json:2:43: /processes/a/depends_on/0: "b" comes later in the file; with sequential startup a process can depend only on earlier ones (or set "startup": "parallel")"#,
            r#"rmanager.json:3:43: /processes/b/depends_on/0: "b" cannot depend on itself"#,
            r#"rmanager.json:3:48: /processes/b/depends_on/1: no process is named "wab"; did you mean "web"?"#,
            "rmanager: rmanager.json: 3 errors",
        ]
    );
    let cycle = r#"{"startup": "parallel", "processes": {
  "a": {"executable": "x", "depends_on": ["c"]},
  "b": {"executable": "x", "depends_on": ["a"]},
  "c": {"executable": "x", "depends_on": ["b"]},
  "d": {"executable": "x", "depends_on": ["a"]}}}"#;
    assert_eq!(
        stderr_lines(cycle),
        [
            "rmanager.json:2:28: /processes/a/depends_on: dependency cycle: a -> c -> b -> a",
            "rmanager: rmanager.json: 1 error",
        ]
    );
}

#[test]
fn check_intervals_are_more_than_zero_and_headers_are_ascii() {
    let lines = stderr_lines(
        r#"{"processes": {"web": {"executable": "x", "verifier": {"type": "http",
            "arguments": {"url": "http://127.0.0.1:1/", "interval": 0, "headers": {"X-Note": "café"}}}}}}"#,
    );
    assert_eq!(
        lines,
        [
            "rmanager.json:2:69: /processes/web/verifier/arguments/interval: expected a number of seconds > 0, found 0",
            r#"rmanager.json:2:94: /processes/web/verifier/arguments/headers/X-Note: expected a header value of visible ASCII characters, found "café""#,
            "rmanager: rmanager.json: 2 errors",
        ]
    );
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the array; the read end is closed at once, as `| head -0` would.
    let writer = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    };
    let status = rmanager()
        .arg("--print-schema")
        .stdout(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A file with a name of megabytes and control characters in keys and values: every
/// message stays short, nothing raw reaches the terminal, and it is quick.
#[test]
fn diagnostics_stay_proportionate_and_printable() {
    let long = "a".repeat(400_000);
    let text = format!(
        r#"{{"processes": {{"a": {{"executable": "true", "depends_on": ["\u001b[31mred\u0001{long}"]}},
            "b\u001bx": {{"executable": "true", "optoins\u0007": 1}},
            "{long}": {{"executable": "true", "depends_on": ["{long}b"]}}}}}}"#
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rmanager.json", &text);
    // Bounded: the did-you-mean for a 400,000-character name once took minutes.
    let run = support::Manager::start(dir.path(), &["--validate"]).finish();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
    assert!(
        run.stderr.bytes().all(|b| b >= b' ' || b == b'\n'),
        "{:?}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0],
        r#"rmanager.json:1:59: /processes/a/depends_on/0: no process is named "\u001b[31mred\u0001aaaaaaaaaaaaaaaaaaaaaaaaaaaa...""#
    );
    assert!(
        lines[1].ends_with(
            r#"/processes/b\u001bx/optoins\u0007: unknown key "optoins\u0007"; allowed here: executable, arguments, options, verifier, environment, env_file, depends_on"#
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn whole_numbers_written_as_decimals_are_integers() {
    let run = validate(
        r#"{"http": {"enabled": true, "port": 5001.0}, "graceful_time": -0,
            "processes": {"a": {"executable": "true", "verifier": {"type": "exited", "arguments": {"expect_code": -0}}}}}"#,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "rmanager.json: valid (1 process)\n"),
        "{}",
        run.stderr
    );
}
