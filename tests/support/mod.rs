//! Helpers shared by the integration tests: run the built binary on a config file.

#![allow(dead_code)] // each test crate uses its own subset

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The rmanager binary cargo built for these tests.
pub fn rmanager() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmanager"))
}

/// The result of one run: exit code and both streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output
                .status
                .code()
                .expect("rmanager exited by itself, not by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `rmanager ARGS` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    rmanager()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rmanager starts")
        .into()
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("test file written");
    path
}

/// Validates `text` as rmanager.json in a fresh directory.
pub fn validate(text: &str) -> Run {
    let dir = tempfile::tempdir().expect("temporary directory");
    write(dir.path(), "rmanager.json", text);
    run_in(dir.path(), &["--validate"])
}

/// The repository's root, where examples/ and schema/ are.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test-service program (tests/support/service.rs).
pub fn service() -> &'static str {
    env!("CARGO_BIN_EXE_test-service")
}

/// A test-service process, as a JSON object, that listens on 127.0.0.1:`port` with `args`
/// and sits behind an http check of that port: ready only once `args` (--ignore-term,
/// --log) are in effect.
pub fn checked_service(args: &[&str], port: u16) -> String {
    let address = format!("127.0.0.1:{port}");
    let mut arguments = args.to_vec();
    arguments.extend(["--listen", &address]);
    serde_json::json!({
        "executable": service(),
        "arguments": arguments,
        "verifier": {"type": "http", "arguments": {"url": format!("http://{address}/")}},
    })
    .to_string()
}

/// A port on 127.0.0.1 that was free a moment ago: the kernel's pick, released for the
/// test's service to bind.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    listener.local_addr().unwrap().port()
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

/// Waits, boundedly, until `done` holds.
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The longest a test waits for anything; generous, for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running rmanager whose stdout is read line by line. Dropping it SIGKILLs the manager,
/// and its watchdog takes every child with it, so a failing test leaves nothing behind.
pub struct Manager {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// `rmanager` to run in `dir`, for a test that sets more (environment) before starting it.
pub fn rmanager_command(dir: &Path) -> Command {
    let mut command = rmanager();
    command.current_dir(dir);
    command
}

/// Starts a configured command as a [`Manager`].
pub trait StartManager {
    fn start(&mut self) -> Manager;
}

impl StartManager for Command {
    fn start(&mut self) -> Manager {
        Manager::spawn(self)
    }
}

impl Manager {
    pub fn start(dir: &Path, args: &[&str]) -> Manager {
        Manager::spawn(rmanager_command(dir).args(args))
    }

    fn spawn(command: &mut Command) -> Manager {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rmanager starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Manager {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next stdout line that starts with `prefix` (earlier lines are kept in `seen`).
    pub fn line_starting(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if unlabelled(&line).starts_with(prefix) => {
                    self.seen.push(line.clone());
                    return unlabelled(&line).to_owned();
                }
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line starting with {prefix:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The next stdout line that starts with `prefix`, or None once stdout has closed.
    pub fn try_line_starting(&mut self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if unlabelled(&line).starts_with(prefix) => {
                    self.seen.push(line.clone());
                    return Some(unlabelled(&line).to_owned());
                }
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "no line starting with {prefix:?}; stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits until a line starting with each prefix has been read, in any order (a
    /// child's line and rmanager's own can come either way round).
    pub fn lines_starting(&mut self, prefixes: &[&str]) {
        for prefix in prefixes {
            if !self.saw(prefix) {
                self.line_starting(prefix);
            }
        }
    }

    /// Whether a line starting with `prefix` has been read already.
    pub fn saw(&self, prefix: &str) -> bool {
        self.seen.iter().any(|l| unlabelled(l).starts_with(prefix))
    }

    /// The first line read that starts with `prefix`.
    pub fn seen_line(&self, prefix: &str) -> String {
        let line = self.seen.iter().find(|l| unlabelled(l).starts_with(prefix));
        unlabelled(line.expect("a line read")).to_owned()
    }

    /// The number after `prefix` on the first line read that starts with it.
    pub fn seen_number(&self, prefix: &str) -> i32 {
        self.seen_line(prefix)[prefix.len()..]
            .trim()
            .parse()
            .expect("a number")
    }

    /// The number after `prefix` on the next line starting with it (`pid 4242`).
    pub fn number_after(&mut self, prefix: &str) -> i32 {
        let line = self.line_starting(prefix);
        line[prefix.len()..].trim().parse().expect("a number")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with plain integers, on the manager this test started.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Waits (boundedly) for the manager to exit; returns its exit code, every stdout line
    /// and its stderr.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "rmanager did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        Run {
            code: status
                .code()
                .expect("rmanager exited by itself, not by a signal"),
            stdout: self.seen.join("\n"),
            stderr: self.stderr.take().unwrap().join().unwrap(),
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Also when the test failed half-way, after killing the watchdog.
        remove_cgroup_of(self.pid());
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`, answered in full: (status, body).
pub fn http(method: &str, port: u16, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the API answers");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("a whole answer");
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, body.to_owned())
}

/// The name (comm) of a live process.
pub fn process_name(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat[stat.find('(')? + 1..stat.rfind(')')?].to_owned())
}

/// Every live descendant of `pid`, found through the parent links in /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..]
                .split(' ')
                .nth(1)?
                .parse()
                .ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, pp)| pp == parent)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// The directory of this test process's cgroup (v2), where rmanager makes its own.
pub fn own_cgroup_dir() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (fields, fs_type) = l.split_once(" - ")?;
        fs_type
            .starts_with("cgroup2 ")
            .then(|| fields.split(' ').nth(4).map(str::to_owned))?
    })?;
    Some(Path::new(&mount).join(own.trim_start_matches('/')))
}

/// Removes the cgroup of the rmanager with this pid, should its watchdog not have (a test
/// killed it): waits (boundedly) until it is empty first.
pub fn remove_cgroup_of(manager: i32) {
    let Some(dir) = own_cgroup_dir() else { return };
    let prefix = format!("rmanager-{manager}-");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            // Gone already is as good: the watchdog may have removed it.
            wait_until("the cgroup to empty", PATIENCE, || {
                std::fs::remove_dir(&path).is_ok() || !path.exists()
            });
        }
    }
}

/// A line as the process printed it: rmanager begins each of a child's lines with the
/// child's name, padded to the longest name (`web   | ...`).
pub fn unlabelled(line: &str) -> &str {
    match line.split_once(" | ") {
        Some((name, text)) if !name.trim().is_empty() && !name.trim().contains(' ') => text,
        _ => line,
    }
}

/// `stdout` less the lines that tell the launch, each of which it must hold once, wherever
/// it fell between the children's bytes: for each of `names`, `rmanager: NAME: started
/// (pid N)` and `rmanager: NAME: ready in X s`; then `rmanager: ready: ...`.
pub fn without_launch_lines(stdout: &str, names: &[&str]) -> String {
    fn seconds(s: &str) -> bool {
        s.strip_suffix(" s\n")
            .is_some_and(|n| n.parse::<f64>().is_ok())
    }
    let mut rest = stdout.to_owned();
    let mut take = |start: &str, shape: fn(&str) -> bool| {
        let at = rest
            .find(start)
            .unwrap_or_else(|| panic!("{start:?} in {stdout:?}"));
        let end = at + rest[at..].find('\n').expect("a whole line") + 1;
        let line = rest[at..end].to_owned();
        assert!(shape(&line[start.len()..]), "{line:?} in {stdout:?}");
        rest.replace_range(at..end, "");
        assert!(!rest.contains(start), "{start:?} twice in {stdout:?}");
    };
    for name in names {
        take(&format!("rmanager: {name}: started (pid "), |s| {
            s.strip_suffix(")\n")
                .is_some_and(|pid| pid.parse::<u32>().is_ok())
        });
        take(&format!("rmanager: {name}: ready in "), seconds);
    }
    take("rmanager: ready: ", |s| {
        s.ends_with(" s\n") || s.contains(" s, control API at ")
    });
    rest
}

/// Live processes with an argument that contains `text`, as (pid, command line).
pub fn processes_with_argument(text: &str) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let arguments: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (alive(pid) && arguments.iter().skip(1).any(|a| a.contains(text)))
                .then(|| (pid, arguments.join(" ")))
        })
        .collect()
}

/// A daemon this test started, stopped gracefully however the test ends.
pub struct Daemon(pub i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: a signal to the daemon this test started.
            unsafe { libc::kill(self.0, libc::SIGTERM) };
            wait_until("the daemon to exit", PATIENCE, || !alive(self.0));
        }
    }
}
