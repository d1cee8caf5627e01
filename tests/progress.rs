//! How the launch is shown: a block redrawn in place on a terminal (run here under a real
//! pseudo-terminal), a line per step in a log, nothing when asked for quiet.

mod support;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;

use support::{PATIENCE, rmanager_command, run_in, wait_until, write};

/// db becomes ready (its file appears) after 300 ms, web depends on it and is a one-shot
/// step, cache has no check.
const ENVIRONMENT: &str = r#"{"startup": "parallel", "processes": {
    "db": {"executable": "sleep 0.3; echo db up; touch db.ok; exec sleep 30",
           "options": {"shell": true}, "verifier": {"type": "file", "arguments": {"path": "db.ok"}}},
    "web": {"executable": "echo hi", "options": {"shell": true}, "depends_on": ["db"],
            "verifier": {"type": "exited"}},
    "cache": {"executable": "sleep", "arguments": ["30"]}
}}"#;

/// Runs `rmanager ARGS` in `dir` with its stdout on a pseudo-terminal of 100 x 30, until it
/// exits by itself; returns its exit code, what the terminal received, and its stderr.
fn run_on_terminal(dir: &Path, args: &[&str]) -> (i32, String, String) {
    use rustix::pty::{OpenptFlags, grantpt, ioctl_tiocgptpeer, openpt, unlockpt};
    use rustix::termios::{OptionalActions, OutputModes, Winsize, tcgetattr, tcsetattr};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY;
    let ours = openpt(flags).unwrap();
    grantpt(&ours).unwrap();
    unlockpt(&ours).unwrap();
    let theirs: OwnedFd = ioctl_tiocgptpeer(&ours, flags).unwrap();
    // \n stays \n, as in a pipe, so that the text can be compared line by line.
    let mut modes = tcgetattr(&theirs).unwrap();
    modes.output_modes -= OutputModes::OPOST;
    tcsetattr(&theirs, OptionalActions::Now, &modes).unwrap();
    let size = Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&theirs, size).unwrap();
    let mut child = rmanager_command(dir)
        .args(args)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::piped())
        .spawn()
        .expect("rmanager starts");
    let reader = std::thread::spawn(move || {
        let mut terminal = std::fs::File::from(ours);
        let mut text = Vec::new();
        // Ends with EIO once every holder of the other side has closed it.
        let _ = terminal.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut code = None;
    wait_until("rmanager exits", PATIENCE, || {
        code = child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1));
        code.is_some()
    });
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (code.unwrap(), reader.join().unwrap(), stderr)
}

#[test]
fn a_terminal_gets_a_block_redrawn_in_place_that_ends_in_its_final_state() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rmanager.json", ENVIRONMENT);
    let (code, screen, stderr) = run_on_terminal(dir.path(), &["--color", "never", "--", "true"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{screen}");
    // The first block is drawn when the first process starts: web waits for db.
    let first = &screen[..screen.find('\x1b').unwrap()];
    assert!(first.contains("\n   web    waiting for db\n"), "{screen:?}");
    // Each redraw goes up over the block and clears below; db's own line is printed
    // above the block, not inside it.
    assert!(screen.contains("\x1b[3A\r\x1b[J"), "{screen:?}");
    assert!(
        screen.contains("\x1b[3A\r\x1b[Jdb    | db up\n"),
        "{screen:?}"
    );
    // The last block stays, followed by the ready line.
    let last = &screen[screen.rfind("\x1b[J").unwrap() + 3..];
    let rows: Vec<&str> = last.lines().collect();
    assert!(rows[0].starts_with(" ✔ db     ready in "), "{last:?}");
    assert!(rows[1].starts_with(" ✔ web    ready in "), "{last:?}");
    assert!(rows[2].starts_with(" ✔ cache  ready in "), "{last:?}");
    // (web's line may still have been on its way.)
    assert!(
        rows[3..]
            .iter()
            .any(|r| r.starts_with("rmanager: ready: 3 processes in ")),
        "{last:?}"
    );
    assert!(!last.contains('\x1b'), "{last:?}");
    // The plain lines are for logs.
    assert!(!screen.contains("started (pid"), "{screen:?}");
}

#[test]
fn a_terminal_block_shows_the_failed_attempts_of_a_check_that_waits() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config = serde_json::json!({"processes": {"web": {
        "executable": support::service(),
        "arguments": ["--delay-ms", "600", "--listen", format!("127.0.0.1:{port}")],
        "verifier": {"type": "tcp", "arguments": {"port": port}},
    }}});
    write(dir.path(), "rmanager.json", config.to_string());
    let (code, screen, stderr) = run_on_terminal(dir.path(), &["--color", "never", "--", "true"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{screen}");
    // The loopback check waits on the prober thread, whose attempts reach the block.
    assert!(
        screen.contains(&format!(
            " attempts failed: tcp 127.0.0.1:{port}: connection refused)"
        )),
        "{screen:?}"
    );
}

#[test]
fn a_failed_launch_leaves_the_block_saying_what_failed_and_what_never_started() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {
            "db": {"executable": "sh", "arguments": ["-c", "exit 3"], "verifier": {"type": "exited"}},
            "web": {"executable": "sleep", "arguments": ["30"]}
        }}"#,
    );
    let (code, screen, stderr) = run_on_terminal(dir.path(), &["--color", "never"]);
    assert_eq!(code, 5, "{screen}");
    let last = &screen[screen.rfind("\x1b[J").unwrap() + 3..];
    assert_eq!(
        last,
        " ✘ db   failed: exited with code 3, expected exit code 0\n   web  not started\n\
         rmanager: shutting down gracefully (a SIGINT kills everything at once)\n"
    );
    assert!(
        stderr.starts_with("rmanager: setup failed: db: "),
        "{stderr}"
    );
}

#[test]
fn a_log_gets_a_line_when_each_process_starts_and_when_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rmanager.json", ENVIRONMENT);
    let run = run_in(dir.path(), &["--", "true"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);
    let position = |text: &str| {
        run.stdout
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} in {}", run.stdout))
    };
    // web waits for db; each is ready after it started; all before the ready line.
    assert!(position("rmanager: db: started (pid ") < position("rmanager: db: ready in "));
    assert!(position("rmanager: db: ready in ") < position("rmanager: web: started (pid "));
    assert!(position("rmanager: web: started (pid ") < position("rmanager: web: ready in "));
    assert!(position("rmanager: cache: ready in ") < position("rmanager: ready: "));
    // db took its 300 ms.
    let took: f64 = run.stdout[position("rmanager: db: ready in ") + 23..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(took >= 0.3, "{}", run.stdout);
    let rest = support::without_launch_lines(&run.stdout, &["db", "web", "cache"]);
    assert!(rest.contains("db    | db up\n"), "{rest}");
}

#[test]
fn quiet_progress_prints_only_the_ready_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rmanager.json",
        r#"{"processes": {"a": {"executable": "true", "verifier": {"type": "exited"}}}}"#,
    );
    let run = run_in(dir.path(), &["--progress", "quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("rmanager: ready: 1 process in ") && run.stdout.lines().count() == 1,
        "{}",
        run.stdout
    );
    // The same when the events take stdout.
    let run = run_in(dir.path(), &["--events", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("a: started"), "{}", run.stdout);
}
