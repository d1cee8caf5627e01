//! Environment variables, `${NAME}` in a file, and the port broker, with real processes:
//! what each process receives, what each error says and where, and ports that are never
//! handed out twice.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use support::{Manager, PATIENCE, http, rmanager_command, run_in, service, validate, write};

/// The `KEY=value` words a process printed (after its label), as a map.
fn printed(stdout: &str, process: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(" | "))
        .filter(|(name, _)| name.trim() == process)
        .flat_map(|(_, l)| l.split(' '))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn each_layer_of_the_environment_overrides_the_one_below() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "top.env", "L1=top-env-file\nL2=top-env-file\n");
    write(dir.path(), "own.env", "L3=own-env-file\nL4=own-env-file\n");
    // pymanager's environment file, sourced by a shell: its exports are over everything
    // but the ports.
    // What it prints is not part of the environment.
    write(
        dir.path(),
        "sourced.sh",
        "echo noise\nexport L5=sourced PORT=sourced\n",
    );
    write(
        dir.path(),
        "rmanager.json",
        r#"{"env_file": "top.env", "environment": {"L2": "top-environment", "L3": "top-environment"},
            "ports": {"PORT": 0},
            "processes": {"p": {
                "executable": "echo R=$R L1=$L1 L2=$L2 L3=$L3 L4=$L4 L5=$L5 PORT=$PORT; env | grep noise || echo clean",
                "options": {"shell": true, "environment_file": "sourced.sh"},
                "env_file": ["own.env"],
                "environment": {"L4": "own-environment", "L5": "own-environment", "L1": "${L1}+"},
                "verifier": {"type": "exited"}}}}"#,
    );
    let run = rmanager_command(dir.path())
        .env("R", "rmanager")
        .env("L1", "rmanager")
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = printed(&run.stdout, "p");
    assert!(!run.stdout.contains("noise"), "{}", run.stdout);
    let port: u16 = seen["PORT"]
        .parse()
        .expect("the port, not the sourced value");
    assert!(port > 0);
    assert_eq!(
        [
            &seen["R"],
            &seen["L1"],
            &seen["L2"],
            &seen["L3"],
            &seen["L4"],
            &seen["L5"]
        ],
        [
            "rmanager",
            // A process's environment value reads the file's variables, not its own.
            "top-env-file+",
            "top-environment",
            "own-env-file",
            "own-environment",
            "sourced"
        ]
    );
}

#[test]
fn an_environment_value_must_be_a_string_and_a_name_a_name() {
    let run = validate(
        r#"{"environment": {"DEBUG": 1, "OK": "1"},
            "processes": {"p": {"executable": "true", "environment": {"1BAD": "x", "ON": true}}}}"#,
    );
    assert_eq!(run.code, 3);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0],
        r#"rmanager.json:1:27: /environment/DEBUG: expected a string (a value is text: write "1" or "true", quoted), found 1"#
    );
    assert_eq!(
        lines[1],
        r#"rmanager.json:2:71: /processes/p/environment/1BAD: expected a variable name (letters, digits and _, not first a digit), found "1BAD""#
    );
    assert!(
        lines[2].starts_with("rmanager.json:2:90: /processes/p/environment/ON: expected a string"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_form_is_replaced_where_rmanager_reads_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub/env")).unwrap();
    write(dir.path(), "sub/env/x.env", "FROM_FILE=read\n");
    let port = support::free_port();
    let config = serde_json::json!({
        "environment": {"SUB": "sub", "EMPTY": ""},
        // Env files come before `environment`: their paths read rmanager's environment.
        "env_file": "${ENV_DIR}/x.env",
        "processes": {
            "web": {
                "executable": service(),
                "arguments": ["--listen", format!("127.0.0.1:{port}")],
                "options": {"working_directory": "${SUB}", "redirect_output": "${EMPTY:-web}-$$1.log"},
                "environment": {"TOLD": "${FROM_FILE}|${UNSET-unset}|${EMPTY-empty}"},
                "verifier": {"type": "tcp", "arguments": {"port": "${WEB_PORT:-PORT}".replace("PORT", &port.to_string())}}
            },
            "env": {
                "executable": "echo TOLD=$TOLD DIR=$(pwd)",
                "options": {"shell": true, "working_directory": "${SUB}"},
                "environment": {"TOLD": "${FROM_FILE}|${UNSET-unset}|${EMPTY-empty}"},
                "verifier": {"type": "exited"}
            }
        }
    });
    write(dir.path(), "rmanager.json", config.to_string());
    let run = rmanager_command(dir.path())
        .args(["--", "true"])
        .env("ENV_DIR", dir.path().join("sub/env"))
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let env = printed(&run.stdout, "env");
    assert_eq!(env["TOLD"], "read|unset|");
    assert_eq!(
        Path::new(&env["DIR"]).canonicalize().unwrap(),
        dir.path().join("sub").canonicalize().unwrap()
    );
    // The output file (relative to rmanager's directory), `$$` written as one `$`.
    assert!(dir.path().join("web-$1.log").exists());
}

#[test]
fn each_problem_with_a_variable_is_an_error_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.env", "# fine\nno equals here\n");
    write(
        dir.path(),
        "rmanager.json",
        r#"{"environment": {"NAME": "abc", "BIG": "70000"},
"processes": {
"a": {"executable": "true", "verifier": {"type": "tcp", "arguments": {"port": "${API_PORT}"}}},
"b": {"executable": "true", "options": {"working_directory": "${WHERE:?set WHERE to the data directory}"}},
"c": {"executable": "true", "options": {"redirect_output": "${NAME"}},
"d": {"executable": "true", "options": {"redirect_output": "${NAME:+x}"}},
"e": {"executable": "true", "env_file": ["missing.env", "bad.env"]},
"f": {"executable": "true", "verifier": {"type": "tcp", "arguments": {"port": "${NAME}"}}},
"g": {"executable": "true", "verifier": {"type": "http", "arguments": {"url": "http://127.0.0.1:${NAME}/"}}}
}}"#,
    );
    let run = rmanager_command(dir.path())
        .arg("--validate")
        .env_remove("WHERE")
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "rmanager.json:3:79: /processes/a/verifier/arguments/port: ${API_PORT} is not set",
            "rmanager.json:4:62: /processes/b/options/working_directory: ${WHERE} is not set: set WHERE to the data directory",
            r#"rmanager.json:5:60: /processes/c/options/redirect_output: "${NAME" has no closing } (write $$ for a literal $)"#,
            r#"rmanager.json:6:60: /processes/d/options/redirect_output: "${NAME:+x}" is not a form rmanager replaces: ${NAME}, ${NAME:-default}, ${NAME-default} or ${NAME:?message} (write $$ for a literal $)"#,
            r#"rmanager.json:7:42: /processes/e/env_file/0: cannot read "missing.env": No such file or directory (os error 2)"#,
            "rmanager.json:7:57: /processes/e/env_file/1: bad.env:2: expected KEY=value",
            r#"rmanager.json:8:79: /processes/f/verifier/arguments/port: expected a number, found "abc" once replaced"#,
            r#"rmanager.json:9:79: /processes/g/verifier/arguments/url: "http://127.0.0.1:abc/" is not a valid URL: invalid port number"#,
            "rmanager: rmanager.json: 8 errors",
        ]
    );
    // A number out of range once replaced is the number's own error.
    let run = validate(
        r#"{"environment": {"BIG": "70000"}, "processes": {"a": {"executable": "true",
            "verifier": {"type": "tcp", "arguments": {"port": "${BIG}"}}}}}"#,
    );
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.starts_with(
            "rmanager.json:2:63: /processes/a/verifier/arguments/port: expected an integer from 1 to 65535, found 70000"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn command_lines_keep_their_meaning_but_for_the_files_own_variables() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"ports": {"WEB_PORT": 0}, "environment": {"GREETING": "hello"},
            "processes": {"p": {
                "executable": "x=1; echo shellpid=$$ pwd=${PWD} none=${x:-none} greeting=${GREETING} port=${WEB_PORT} literal='$${GREETING}' typo=${WEB_PROT}end",
                "options": {"shell": true}, "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["--", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = printed(&run.stdout, "p");
    assert!(seen["shellpid"].parse::<u32>().is_ok(), "{}", run.stdout);
    assert_eq!(
        Path::new(&seen["pwd"]).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(seen["none"], "1");
    assert_eq!(seen["greeting"], "hello");
    assert!(
        seen["port"].parse::<u16>().is_ok_and(|p| p > 0),
        "{}",
        run.stdout
    );
    assert_eq!(seen["literal"], "${GREETING}");
    // Passed on to the shell, which has no such variable.
    assert_eq!(seen["typo"], "end");
    let warning = "rmanager.json:3:31: warning: /processes/p/executable: ${WEB_PROT} is not one of the file's variables, and is passed on as it is; did you mean ${WEB_PORT}?\n";
    assert_eq!(run.stderr, warning);
    let validated = run_in(dir.path(), &["--validate"]);
    assert_eq!(
        (validated.code, validated.stderr.as_str()),
        (0, warning),
        "{}",
        validated.stdout
    );
}

#[test]
fn a_fixed_port_in_use_is_a_setup_error_naming_what_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"ports": {{"DB_PORT": {port}}}, "processes": {{"db": {{"executable": "true"}}}}}}"#
        ),
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let said = format!("rmanager: setup failed: port {port} (DB_PORT) is in use by ");
    assert!(run.stderr.starts_with(&said), "{}", run.stderr);
    assert!(
        run.stderr
            .ends_with(&format!(" (pid {})\n", std::process::id())),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    // --validate does not try it.
    assert_eq!(run_in(dir.path(), &["--validate"]).code, 0);
}

/// A bind without SO_REUSEADDR, as a process that does not set it would try.
const TRY_BIND: &str = "import socket, sys
def state(port):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', int(port)))
        return 'free'
    except OSError:
        return 'held'
print(' '.join(f'{name}=' + state(port) for name, port in zip(sys.argv[1::2], sys.argv[2::2])), flush=True)";

#[test]
fn a_free_port_is_held_until_the_first_process_that_names_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "try_bind.py", TRY_BIND);
    // `first` names neither (it reads them from its environment): LATE is still held for
    // `second`, UNNAMED (named by no process) was let go before anything started.
    write(
        dir.path(),
        "rmanager.json",
        r#"{"ports": {"LATE": 0, "UNNAMED": 0}, "processes": {
            "first": {"executable": "python3 try_bind.py late $LATE unnamed $UNNAMED",
                      "options": {"shell": true}, "verifier": {"type": "exited"}},
            "second": {"executable": "python3", "arguments": ["try_bind.py", "late", "${LATE}"],
                       "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = printed(&run.stdout, "first");
    assert_eq!(
        (first["late"].as_str(), first["unnamed"].as_str()),
        ("held", "free")
    );
    assert_eq!(printed(&run.stdout, "second")["late"], "free");
}

#[test]
fn the_ports_reach_the_tests_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        format!(
            r#"{{"ports": {{"WEB_PORT": 0}}, "http": {{"enabled": true, "port": 0, "token": "sesame"}},
                "processes": {{"web": {{"executable": "{}", "arguments": ["--listen", "127.0.0.1:${{WEB_PORT}}"],
                    "verifier": {{"type": "http", "arguments": {{"url": "http://127.0.0.1:${{WEB_PORT}}/"}}}}}}}}}}"#,
            service()
        ),
    );
    // Fixture mode: in COMMAND's environment, and in the env file before COMMAND runs.
    let run = run_in(
        dir.path(),
        &[
            "--env-file",
            "ports.env",
            "--",
            "sh",
            "-c",
            "echo WEB_PORT=$WEB_PORT URL=$RMANAGER_URL; cat ports.env",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let told = support::without_launch_lines(&run.stdout, &["web"]);
    let command_line = told
        .lines()
        .find(|l| l.starts_with("WEB_PORT="))
        .expect("COMMAND's line");
    let (port, url) = command_line
        .strip_prefix("WEB_PORT=")
        .and_then(|rest| rest.split_once(" URL="))
        .unwrap();
    assert!(port.parse::<u16>().is_ok(), "{told}");
    assert!(
        told.contains(&format!("WEB_PORT={port}\nRMANAGER_URL={url}\n")),
        "the env file: {told}"
    );

    // Daemon mode: after the ready line; the control API lists them, behind the token.
    let run = run_in(dir.path(), &["-d", "--env-file", "daemon.env"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut lines = run.stdout.lines();
    let ready = lines.next().unwrap();
    let pid: i32 = ready
        .strip_prefix("rmanager running (pid ")
        .and_then(|r| r.split_once(','))
        .unwrap()
        .0
        .parse()
        .unwrap();
    // Stopped however the test ends, from here on.
    let daemon = support::Daemon(pid);
    let exports: Vec<&str> = lines.collect();
    let port: u16 = exports[0]
        .strip_prefix("WEB_PORT=")
        .unwrap()
        .parse()
        .unwrap();
    let url = exports[1].strip_prefix("RMANAGER_URL=").unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("daemon.env")).unwrap(),
        format!("WEB_PORT={port}\nRMANAGER_URL={url}\n")
    );
    let api: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(http("GET", api, "/env").0, 401);
    let (status, body) = authorized_get(api, "/env", "sesame");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"ports": {"WEB_PORT": port}})
    );
    // The service the tests were told of listens there.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(daemon);
}

fn authorized_get(port: u16, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// Eight copies of examples/parallel.json at once, each checking its own services on its
/// own ports; nothing of any copy is left afterwards.
#[test]
fn copies_of_one_environment_run_side_by_side() {
    let example = support::repo().join("examples/parallel.json");
    let check = "import os, socket, sys, urllib.request
ports = [os.environ[k] for k in ('DB_PORT', 'API_PORT', 'WEB_PORT')]
socket.create_connection(('127.0.0.1', int(ports[0])), timeout=10).close()
for port in ports[1:]:
    assert urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=10).status == 200
sys.stdout.write('ports ' + ' '.join(ports) + '\\n')";
    let copies: Vec<Manager> = (0..8)
        .map(|_| {
            let mut command = support::rmanager();
            command.args(["--progress", "quiet", "-f"]).arg(&example);
            command.args(["--", "python3", "-c", check]);
            support::StartManager::start(&mut command)
        })
        .collect();
    let mut ports = Vec::new();
    for copy in copies {
        let run = copy.finish();
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let line = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("ports "))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        ports.extend(line.split(' ').map(|p| p.parse::<u16>().unwrap()));
    }
    let mut distinct = ports.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 24, "{ports:?}");
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers"
        );
        let running = support::processes_with_argument(&port.to_string());
        assert!(running.is_empty(), "port {port}: {running:?}");
    }
}

#[test]
fn print_config_shows_the_file_as_a_run_would_use_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"ports": {"WEB_PORT": 0, "DB_PORT": 5432}, "environment": {"DATA": "${HOME}/data"},
            "http": {"enabled": true, "token": "secret"},
            "processes": {"web": {"executable": "serve", "arguments": ["${WEB_PORT}", "$HOME"],
                "verifier": {"type": "tcp", "arguments": {"port": "${WEB_PORT}"}}}}}"#,
    );
    let run = rmanager_command(dir.path())
        .arg("--print-config")
        .env("HOME", "/home/tester")
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let port = printed["ports"]["WEB_PORT"].as_u64().unwrap();
    assert!(port > 0);
    assert_eq!(printed["ports"]["DB_PORT"], 5432);
    assert_eq!(printed["http"]["token"], "********");
    assert_eq!(printed["environment"]["DATA"], "/home/tester/data");
    let web = &printed["processes"]["web"];
    assert_eq!(
        web["arguments"],
        serde_json::json!([port.to_string(), "$HOME"])
    );
    assert_eq!(web["verifier"]["arguments"]["port"], port);
    // Defaults filled in; the port shown was let go.
    assert_eq!(web["verifier"]["arguments"]["timeout"], 30.0);
    TcpListener::bind(("127.0.0.1", port as u16)).expect("not held");
}

/// The README's example of a test reading its port from the environment.
#[test]
fn the_example_test_reads_the_port_it_was_given() {
    let repo = support::repo();
    let run = support::rmanager()
        .current_dir(repo)
        .args([
            "--progress",
            "quiet",
            "-f",
            "examples/web.json",
            "--",
            "examples/test-web.sh",
        ])
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // COMMAND writes to the same stdout as rmanager, which may write between its text and
    // the newline Python writes apart: the port is the digits that follow.
    let said = run
        .stdout
        .split("web answered 200 on port ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let digits: String = said.chars().take_while(char::is_ascii_digit).collect();
    assert!(digits.parse::<u16>().is_ok_and(|p| p > 0), "{said}");
}
