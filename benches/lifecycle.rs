//! The lifecycle benchmark: how fast environments come up and go away, how light rmanager
//! is while they run, and the same workloads against pymanager 0.2.6.1 when it is
//! installed. It reports figures (medians); it asserts nothing about time.
//!
//!   cargo bench --bench lifecycle               full run (a few minutes; more with pymanager)
//!   cargo bench --bench lifecycle -- --quick    small workloads, one run each
//!   cargo test --bench lifecycle                the smoke test CI runs (debug build, quick)
//!
//! `-- --only TEXT` runs the rows whose name contains TEXT; `-- --no-pymanager` skips it.
//! pymanager is looked for at $PYMANAGER, else target/pymanager-venv/bin/pymanager
//! (benches/README.md says how to install it there).
//!
//! The child is test-service (tests/support/service.rs), our own tiny program, so the
//! figures measure the managers, not the children.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const RMANAGER: &str = env!("CARGO_BIN_EXE_rmanager");
const SERVICE: &str = env!("CARGO_BIN_EXE_test-service");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Rmanager,
    Pymanager,
}

struct Bench {
    quick: bool,
    /// Only the rows whose name contains this.
    only: Option<String>,
    runs: usize,
    pymanager: Option<PathBuf>,
    rows: Vec<Row>,
}

/// One line of the table: a figure for each tool, in `unit`, lower is better unless noted.
struct Row {
    what: String,
    unit: &'static str,
    ours: Option<f64>,
    theirs: Option<f64>,
    target: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --bench` does not: then it is a smoke test.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let pymanager = std::env::var_os("PYMANAGER")
        .map(PathBuf::from)
        .or_else(|| {
            let venv =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pymanager-venv/bin/pymanager");
            venv.exists().then_some(venv)
        })
        .filter(|_| !args.iter().any(|a| a == "--no-pymanager"));
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let mut bench = Bench {
        quick,
        only,
        runs: if quick { 1 } else { 5 },
        pymanager,
        rows: Vec::new(),
    };
    eprintln!(
        "lifecycle benchmark ({}; pymanager: {})",
        if quick { "quick" } else { "full" },
        bench
            .pymanager
            .as_ref()
            .map_or("not installed".to_owned(), |p| p.display().to_string())
    );
    bench.time_to_ready();
    bench.cpu_until_ready();
    bench.readiness_latency();
    bench.shutdown();
    bench.exit_detection();
    bench.footprint();
    bench.output_throughput();
    bench.side_by_side();
    bench.control_api();
    bench.validation();
    bench.print();
}

impl Bench {
    fn skips(&self, what: &str) -> bool {
        self.only
            .as_ref()
            .is_some_and(|only| !what.contains(only.as_str()))
    }

    fn tools(&self) -> Vec<Tool> {
        match self.pymanager {
            Some(_) => vec![Tool::Rmanager, Tool::Pymanager],
            None => vec![Tool::Rmanager],
        }
    }

    /// Runs `measure` `runs` times per tool and records the medians.
    fn row(
        &mut self,
        what: &str,
        unit: &'static str,
        target: &str,
        rmanager_only: bool,
        mut measure: impl FnMut(Tool) -> Option<f64>,
    ) {
        if self.skips(what) {
            return;
        }
        eprintln!("  {what}");
        let mut figures = [None, None];
        for (slot, tool) in self.tools().into_iter().enumerate() {
            if rmanager_only && tool == Tool::Pymanager {
                continue;
            }
            let mut samples: Vec<f64> = (0..self.runs).filter_map(|_| measure(tool)).collect();
            samples.sort_by(f64::total_cmp);
            figures[slot] = samples.get(samples.len() / 2).copied();
        }
        self.rows.push(Row {
            what: what.to_owned(),
            unit,
            ours: figures[0],
            theirs: figures[1],
            target: target.to_owned(),
        });
    }

    /// (1) From launching the manager until `GET /status` says running, every port answering.
    fn time_to_ready(&mut self) {
        let sizes: &[usize] = if self.quick { &[1, 5] } else { &[1, 10, 50] };
        for parallel in [false, true] {
            for &n in sizes {
                let ideal = if parallel { 0.2 } else { 0.2 * n as f64 };
                let startup = if parallel { "parallel" } else { "sequential" };
                let target = match (parallel, n) {
                    (false, 50) => "within 2% of ideal (10.2 s)".to_owned(),
                    (true, 50) => "< 300 ms".to_owned(),
                    _ => format!("ideal {:.0} ms", ideal * 1000.0),
                };
                let what = format!(
                    "ready: {n} service{}, {startup}",
                    if n == 1 { "" } else { "s" }
                );
                self.row(&what, "ms", &target, parallel, |tool| {
                    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
                    let processes = Process::slow_services(&ports);
                    let started = Instant::now();
                    let env = Env::launch(
                        tool,
                        Setup {
                            processes,
                            parallel,
                            ..Setup::default()
                        },
                    )?;
                    env.wait_for_status("running", Duration::from_secs(30 + n as u64))?;
                    let elapsed = started.elapsed();
                    let all_answer = ports
                        .iter()
                        .all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok());
                    env.stop();
                    all_answer.then(|| ms(elapsed))
                });
                // The ratio to the ideal, for each tool, after the target.
                if let Some(row) = self.rows.last_mut().filter(|r| r.what == what) {
                    let ratio = |v: Option<f64>| v.map(|v| format!("{:.3}", v / (ideal * 1000.0)));
                    let ratios: Vec<String> = [("rmanager", row.ours), ("pymanager", row.theirs)]
                        .into_iter()
                        .filter_map(|(tool, v)| Some(format!("{tool} x{}", ratio(v)?)))
                        .collect();
                    row.target = format!("{}; {}", row.target, ratios.join(", "));
                }
            }
        }
    }

    /// (1b) The manager's own CPU time (every thread) from launch until `running`, for N
    /// sequential services that listen after 200 ms: what waiting costs. The last port is
    /// watched from here (costing the manager nothing) before `GET /status` is asked, so
    /// the figure is the manager's, not the polling's.
    fn cpu_until_ready(&mut self) {
        let n = if self.quick { 5 } else { 50 };
        let target = if self.quick { "" } else { "<= 150 ms" };
        self.row(
            &format!("manager CPU until ready: {n} services, sequential"),
            "ms",
            target,
            false,
            |tool| {
                let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
                let processes = Process::slow_services(&ports);
                let env = Env::launch(
                    tool,
                    Setup {
                        processes,
                        ..Setup::default()
                    },
                )?;
                let last = *ports.last()?;
                let deadline = Instant::now() + Duration::from_secs(30 + n as u64);
                while TcpStream::connect(("127.0.0.1", last)).is_err() {
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                env.wait_for_status("running", Duration::from_secs(5))?;
                let cpu = cpu_ns(env.child.id())?;
                env.stop();
                Some(cpu as f64 / 1e6)
            },
        );
    }

    /// (2) From the moment the service listens until the manager reports it ready.
    fn readiness_latency(&mut self) {
        self.row(
            "readiness noticed after the service listens",
            "ms",
            "< 20 ms",
            false,
            |tool| {
                let port = free_port();
                let dir = tempfile::tempdir().ok()?;
                let stamp = dir.path().join("listening");
                let service = Process::service(&[
                    "--delay-ms",
                    "300",
                    "--stamp-listen",
                    &stamp.display().to_string(),
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                ])
                .http_check(port);
                let env = Env::launch(
                    tool,
                    Setup {
                        processes: vec![service],
                        ..Setup::default()
                    },
                )?;
                env.wait_for_status("running", Duration::from_secs(30))?;
                let noticed = now_ns();
                env.stop();
                let listening: u128 = std::fs::read_to_string(&stamp).ok()?.trim().parse().ok()?;
                Some((noticed.saturating_sub(listening)) as f64 / 1e6)
            },
        );
    }

    /// (3) From SIGTERM to the manager until it has exited and no child remains.
    fn shutdown(&mut self) {
        let cases: [(usize, bool, f64, &str); 2] =
            [(10, false, 10.0, "< 50 ms"), (5, true, 2.0, "< 2.1 s")];
        for (n, stubborn, grace, target) in cases {
            let what = if stubborn {
                format!("shutdown: {n} children ignoring SIGTERM, graceful_time {grace}")
            } else {
                format!("shutdown: {n} cooperative children")
            };
            self.row(&what, "ms", target, false, |tool| {
                let mut args = vec![];
                if stubborn {
                    args.push("--ignore-term");
                }
                let processes = (0..n).map(|_| Process::service(&args)).collect();
                let mut env = Env::launch(
                    tool,
                    Setup {
                        processes,
                        graceful: grace,
                        ..Setup::default()
                    },
                )?;
                env.wait_for_status("running", Duration::from_secs(30))?;
                let pids = env.wait_for_pids(n)?;
                // The ignoring happens at the service's start: give it a moment.
                std::thread::sleep(Duration::from_millis(200));
                let started = Instant::now();
                env.signal(libc::SIGTERM);
                env.child.wait().ok()?;
                while pids.iter().any(|&p| alive(p)) {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Some(ms(started.elapsed()))
            });
        }
    }

    /// (4) A child exits by itself: until `GET /` says so, and until a manager without
    /// keep-alive has exited.
    fn exit_detection(&mut self) {
        for keep_alive in [true, false] {
            let (what, target) = if keep_alive {
                ("exit noticed by GET /", "< 10 ms")
            } else {
                ("manager exit after its last child's", "< 20 ms")
            };
            self.row(what, "ms", target, false, |tool| {
                let dir = tempfile::tempdir().ok()?;
                let stamp = dir.path().join("exited");
                let service = Process::service(&[
                    "--exit-after-ms",
                    "500",
                    "--stamp-exit",
                    &stamp.display().to_string(),
                ]);
                let mut env = Env::launch(
                    tool,
                    Setup {
                        processes: vec![service],
                        keep_alive,
                        ..Setup::default()
                    },
                )?;
                env.wait_for_status("running", Duration::from_secs(30))?;
                let noticed = if keep_alive {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        let list = env
                            .get("/")
                            .and_then(|b| serde_json::from_str::<Value>(&b).ok());
                        if list.is_some_and(|l| l["processes"][0]["status"] == "terminated") {
                            break now_ns();
                        }
                        if Instant::now() > deadline {
                            return None;
                        }
                        std::thread::sleep(Duration::from_micros(500));
                    }
                } else {
                    env.child.wait().ok()?;
                    now_ns()
                };
                env.stop();
                let exited: u128 = std::fs::read_to_string(&stamp).ok()?.trim().parse().ok()?;
                Some(noticed.saturating_sub(exited) as f64 / 1e6)
            });
        }
    }

    /// (5) Resident memory with 10 and 50 children; CPU time over idle seconds.
    fn footprint(&mut self) {
        for (n, target) in [(10, "< 8 MB"), (50, "< 10 MB")] {
            self.row(
                &format!("resident memory, {n} children"),
                "MB",
                target,
                false,
                |tool| {
                    let env = Env::settled(tool, n)?;
                    let rss = resident_kb(env.child.id())? as f64 / 1024.0;
                    env.stop();
                    Some(rss)
                },
            );
        }
        let idle = if self.quick { 1 } else { 10 };
        self.row(
            &format!("CPU time over {idle} idle s, 10 children"),
            "ms",
            "< 1 ms",
            false,
            |tool| {
                let env = Env::settled(tool, 10)?;
                let before = cpu_ns(env.child.id())?;
                std::thread::sleep(Duration::from_secs(idle));
                let after = cpu_ns(env.child.id())?;
                env.stop();
                Some((after - before) as f64 / 1e6)
            },
        );
    }

    /// (6) One child printing 1 GB of 100-byte lines through rmanager, prefixed, with
    /// rmanager's stdout a file; against `cat` of the same data to a file, in the same run.
    fn output_throughput(&mut self) {
        let what = "output: 1 GB of 100-byte lines, prefixed, to a file";
        if self.skips(what) {
            return;
        }
        let size: usize = if self.quick {
            20_000_000
        } else {
            1_000_000_000
        };
        let Some(dir) = tempfile::tempdir().ok() else {
            return;
        };
        let data = dir.path().join("lines");
        if write_lines(&data, size).is_err() {
            return;
        }
        let out = dir.path().join("out");
        let megabytes = size as f64 / 1e6;
        let mut cat: Vec<f64> = (0..self.runs)
            .filter_map(|_| {
                let (seconds, _) = timed(Command::new("cat").arg(&data), &out)?;
                Some(megabytes / seconds)
            })
            .collect();
        cat.sort_by(f64::total_cmp);
        let cat = cat.get(cat.len() / 2).copied().unwrap_or(f64::NAN);
        // What any captured path pays at least: a 1 MiB pipe and a second process that
        // only copies (no lines, no labels).
        let mut relay: Vec<f64> = (0..self.runs)
            .filter_map(|_| Some(megabytes / relayed(&data, &out)?))
            .collect();
        relay.sort_by(f64::total_cmp);
        let relay = relay.get(relay.len() / 2).copied().unwrap_or(f64::NAN);
        let config = dir.path().join("env.json");
        let process = json!({"executable": "cat", "arguments": [data]});
        let written = json!({"processes": {"flood": process}}).to_string();
        if std::fs::write(&config, written).is_err() {
            return;
        }
        let mut peaks = Vec::new();
        self.row(
            what,
            "MB/s",
            &format!(
                ">= {:.0} (half of cat's {cat:.0} here; cat piped into cat: {relay:.0})",
                cat / 2.0
            ),
            true,
            |_| {
                let (seconds, peak) = timed(Command::new(RMANAGER).arg("-f").arg(&config), &out)?;
                // Every line arrived, each after its label.
                let expected = size + (size / 100) * "flood | ".len();
                let arrived = std::fs::metadata(&out).ok()?.len() as usize;
                (arrived >= expected).then_some(())?;
                peaks.push(peak);
                Some(megabytes / seconds)
            },
        );
        let mut peaks = peaks.into_iter();
        self.row(
            "output: rmanager's peak resident memory meanwhile",
            "MB",
            "< 16 MB",
            true,
            |_| peaks.next(),
        );
    }

    /// (6b) Copies of one 5-service environment (free ports from the broker, each service
    /// listening 200 ms after it starts) brought up at once in fixture mode, each COMMAND
    /// printing its ports: how many came up, how many ports two copies shared, and the time
    /// until the last was ready against one copy alone, in the same run.
    fn side_by_side(&mut self) {
        let what = "side by side: copies of a 5-service environment ready at once";
        if self.skips(what) {
            return;
        }
        let copies = if self.quick { 4 } else { 16 };
        let Some(dir) = tempfile::tempdir().ok() else {
            return;
        };
        let names: Vec<String> = (0..5).map(|i| format!("P{i}")).collect();
        let processes: serde_json::Map<String, Value> = names
            .iter()
            .map(|name| {
                let address = format!("127.0.0.1:${{{name}}}");
                let check = json!({"type": "tcp", "arguments": {"port": format!("${{{name}}}")}});
                let args = ["--delay-ms", "200", "--listen", &address];
                (
                    name.to_lowercase(),
                    json!({"executable": SERVICE, "arguments": args, "verifier": check}),
                )
            })
            .collect();
        let ports: serde_json::Map<String, Value> =
            names.iter().map(|n| (n.clone(), json!(0))).collect();
        let config = dir.path().join("env.json");
        let text = json!({"startup": "parallel", "ports": ports, "processes": processes});
        if std::fs::write(&config, text.to_string()).is_err() {
            return;
        }
        let alone = (0..self.runs).filter_map(|_| Some(copies_at_once(&config, 1)?.seconds));
        let alone = median(alone.collect());
        let mut outcomes = Vec::new();
        self.row(
            &format!("side by side: {copies} copies of a 5-service environment, ready"),
            "copies",
            &format!("{copies}"),
            true,
            |_| {
                let outcome = copies_at_once(&config, copies)?;
                let ready = outcome.ready as f64;
                outcomes.push(outcome);
                Some(ready)
            },
        );
        let mut collisions = outcomes.iter().map(|o| o.collisions as f64);
        self.row(
            "side by side: ports shared by two copies",
            "ports",
            "0",
            true,
            |_| collisions.next(),
        );
        let mut seconds = outcomes.iter().map(|o| o.seconds * 1000.0);
        self.row(
            &format!("side by side: until all {copies} copies are ready"),
            "ms",
            &format!("one copy alone: {:.0} ms here", alone * 1000.0),
            true,
            |_| seconds.next(),
        );
    }

    /// (7) `GET /` with 50 processes at a paced 1,000 requests per second.
    fn control_api(&mut self) {
        if self.skips("GET /") {
            return;
        }
        let seconds = if self.quick { 0.5 } else { 5.0 };
        let mut results: Vec<(Tool, Load)> = Vec::new();
        for tool in self.tools() {
            if let Some(env) = Env::settled(tool, 50) {
                let load = load(env.api_port, 1000.0, Duration::from_secs_f64(seconds));
                results.push((tool, load));
                env.stop();
            }
        }
        let pick =
            |tool, f: fn(&Load) -> f64| results.iter().find(|(t, _)| *t == tool).map(|(_, l)| f(l));
        let rows: [(&str, &'static str, &str, Figure); 4] = [
            (
                "GET /, 50 processes: requests answered per second",
                "req/s",
                "1000 (the offered rate)",
                |l| l.rate,
            ),
            ("GET /, 50 processes: p50 latency", "ms", "", |l| l.p50),
            ("GET /, 50 processes: p99 latency", "ms", "< 5 ms", |l| {
                l.p99
            }),
            ("GET /, 50 processes: errors", "", "0", |l| l.errors as f64),
        ];
        for (what, unit, target, f) in rows {
            self.rows.push(Row {
                what: what.to_owned(),
                unit,
                ours: pick(Tool::Rmanager, f),
                theirs: pick(Tool::Pymanager, f),
                target: target.to_owned(),
            });
        }
    }

    /// (7) `rmanager --validate` on a generated 1,000-process file.
    fn validation(&mut self) {
        self.row("--validate, 1,000 processes", "ms", "< 50 ms", true, |_| {
            let dir = tempfile::tempdir().ok()?;
            let processes: Vec<Process> = (0..1000)
                .map(|i| {
                    Process::service(&["--listen", &format!("127.0.0.1:{}", 20000 + i)])
                        .http_check(20000 + i)
                })
                .collect();
            let file = dir.path().join("rmanager.json");
            std::fs::write(
                &file,
                Setup {
                    processes,
                    ..Setup::default()
                }
                .config(Tool::Rmanager, 0)
                .to_string(),
            )
            .ok()?;
            let started = Instant::now();
            let status = Command::new(RMANAGER)
                .arg("--validate")
                .arg("-f")
                .arg(&file)
                .stdout(Stdio::null())
                .status()
                .ok()?;
            status.success().then(|| ms(started.elapsed()))
        });
    }

    fn print(&self) {
        println!("| measurement | rmanager | pymanager 0.2.6.1 | rmanager / pymanager | target |");
        println!("| --- | ---: | ---: | ---: | --- |");
        let show = |v: Option<f64>, unit: &str| match v {
            Some(v) if v >= 100.0 => format!("{v:.0} {unit}"),
            Some(v) => format!("{v:.2} {unit}"),
            None => "n/a".to_owned(),
        };
        for row in &self.rows {
            let ratio = match (row.ours, row.theirs) {
                (Some(a), Some(b)) if b > 0.0 && a / b < 0.01 => "< 0.01".to_owned(),
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => String::new(),
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                row.what,
                show(row.ours, row.unit).trim_end(),
                show(row.theirs, row.unit).trim_end(),
                ratio,
                row.target
            );
        }
    }
}

/// One process of a generated environment.
struct Process {
    args: Vec<String>,
    check_port: Option<u16>,
}

impl Process {
    fn service(args: &[&str]) -> Process {
        Process {
            args: args.iter().map(|a| a.to_string()).collect(),
            check_port: None,
        }
    }

    /// A service per port that listens there 200 ms after it starts, behind an http check.
    fn slow_services(ports: &[u16]) -> Vec<Process> {
        ports
            .iter()
            .map(|&port| {
                let address = format!("127.0.0.1:{port}");
                Process::service(&["--delay-ms", "200", "--listen", &address]).http_check(port)
            })
            .collect()
    }

    fn http_check(mut self, port: u16) -> Process {
        self.check_port = Some(port);
        self
    }
}

/// A generated environment.
struct Setup {
    processes: Vec<Process>,
    parallel: bool,
    keep_alive: bool,
    graceful: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            processes: Vec::new(),
            parallel: false,
            keep_alive: false,
            graceful: 10.0,
        }
    }
}

impl Setup {
    /// The configuration file: the same environment in each tool's dialect.
    fn config(&self, tool: Tool, api_port: u16) -> Value {
        let mut processes = serde_json::Map::new();
        for (i, process) in self.processes.iter().enumerate() {
            let mut entry = json!({"executable": SERVICE, "arguments": process.args, "options": {"suppress_output": true}});
            if let Some(port) = process.check_port {
                let url = format!("http://127.0.0.1:{port}/");
                entry["verifier"] = match tool {
                    Tool::Rmanager => {
                        json!({"type": "http", "arguments": {"url": url, "timeout": 60}})
                    }
                    // pymanager 0.2.6.1 crashes on a `timeout` argument (a typo in its
                    // HttpOkVerifier), so it runs with its default of 30 s.
                    Tool::Pymanager => {
                        json!({"type": "pymutils.http_verifier.HttpOkVerifier", "arguments": {"url": url}})
                    }
                };
            }
            processes.insert(format!("p{i}"), entry);
        }
        let mut config = json!({
            "http": {"enabled": true, "port": api_port},
            "keep_alive": self.keep_alive,
            "processes": processes,
        });
        match tool {
            Tool::Rmanager => {
                config["graceful_time"] = json!(self.graceful);
                config["startup"] = json!(if self.parallel {
                    "parallel"
                } else {
                    "sequential"
                });
            }
            Tool::Pymanager => {
                config["graceful_time"] = json!(self.graceful as u64);
                config["modules"] =
                    json!({"pymutils.http_verifier": {"verifiers": ["HttpOkVerifier"]}});
            }
        }
        config
    }
}

/// A running manager with its control API.
struct Env {
    tool: Tool,
    child: Child,
    api_port: u16,
    _dir: tempfile::TempDir,
}

impl Env {
    fn launch(tool: Tool, setup: Setup) -> Option<Env> {
        let dir = tempfile::tempdir().ok()?;
        let api_port = free_port();
        let file = dir.path().join("env.json");
        std::fs::write(&file, setup.config(tool, api_port).to_string()).ok()?;
        let program = match tool {
            Tool::Rmanager => PathBuf::from(RMANAGER),
            Tool::Pymanager => std::env::var_os("PYMANAGER")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("target/pymanager-venv/bin/pymanager")
                }),
        };
        // A group of its own, so that a manager that must be killed takes the children it
        // keeps in its group (pymanager's) along.
        let child = Command::new(program)
            .process_group(0)
            .arg("-f")
            .arg(&file)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Env {
            tool,
            child,
            api_port,
            _dir: dir,
        })
    }

    /// `n` children that do nothing, all running, the manager settled.
    fn settled(tool: Tool, n: usize) -> Option<Env> {
        let processes = (0..n).map(|_| Process::service(&[])).collect();
        let env = Env::launch(
            tool,
            Setup {
                processes,
                ..Setup::default()
            },
        )?;
        env.wait_for_status("running", Duration::from_secs(60))?;
        env.wait_for_pids(n)?;
        std::thread::sleep(Duration::from_millis(300));
        Some(env)
    }

    fn get(&self, path: &str) -> Option<String> {
        http_get(self.api_port, path)
            .filter(|(code, _)| *code == 200)
            .map(|(_, body)| body)
    }

    fn wait_for_status(&self, status: &str, limit: Duration) -> Option<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let body = self.get("/status");
            if body
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .is_some_and(|v| v["status"] == status)
            {
                return Some(());
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let tool = match self.tool {
            Tool::Rmanager => "rmanager",
            Tool::Pymanager => "pymanager",
        };
        eprintln!("    {tool}: gave up waiting for status {status:?}");
        None
    }

    /// The pids of the processes, once `n` of them run.
    fn wait_for_pids(&self, n: usize) -> Option<Vec<i32>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(list) = self
                .get("/")
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            {
                let pids: Vec<i32> = list["processes"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| p["pid"].as_i64())
                    .map(|p| p as i32)
                    .collect();
                if pids.len() == n {
                    return Some(pids);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the manager this benchmark started.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Stops the manager and reaps it.
    fn stop(self) {
        drop(self);
    }
}

/// Every way out of a measurement, early returns included, stops the manager: SIGTERM,
/// then SIGKILL after 15 s.
impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill(2) on the group of the manager this benchmark started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// One figure of a load's results.
type Figure = fn(&Load) -> f64;

/// Results of a paced load.
struct Load {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

/// Offers `rate` requests per second of `GET /` for `duration`, from 4 threads, one
/// connection per request; returns the achieved rate and latencies.
fn load(port: u16, rate: f64, duration: Duration) -> Load {
    let threads = 4;
    let per_thread = Duration::from_secs_f64(threads as f64 / rate);
    let started = Instant::now();
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    let mut next = started + per_thread.mul_f64(t as f64 / threads as f64);
                    while next < started + duration {
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = Instant::now();
                        match http_get(port, "/") {
                            Some((200, _)) => latencies.push(ms(sent.elapsed())),
                            _ => errors += 1,
                        }
                        next += per_thread;
                    }
                    (latencies, errors)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|(_, e)| e).sum();
    let mut latencies: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Load {
        rate: latencies.len() as f64 / elapsed,
        p50: at(0.5),
        p99: at(0.99),
        errors,
    }
}

/// A GET over a fresh connection; (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// A port nothing listens on, from below the kernel's range for outgoing connections. A
/// service binds its port up to seconds after it was chosen, and meanwhile this benchmark
/// opens thousands of connections (`GET /status` every 0.5 ms): one of them could take the
/// port as its source, and its TIME_WAIT keeps the service from binding for a minute.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
    let below: u32 = range
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let span = 12_000.min(below.saturating_sub(1024)).max(1);
    let low = below.saturating_sub(span);
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id();
        let port = (low + offset % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    0
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn resident_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of every thread of `pid`, in ns (schedstat, not the 10 ms tick of /proc/stat).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes `size` bytes of 100-byte lines to `path`.
fn write_lines(path: &Path, size: usize) -> std::io::Result<()> {
    let line = format!("{}\n", "x".repeat(99));
    let block = line.repeat(10_000);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for _ in 0..size / block.len() {
        file.write_all(block.as_bytes())?;
    }
    file.flush()
}

/// Runs `command` with its stdout to `out` (created anew); its wall time in seconds and its
/// peak resident memory in MB (its own or a reaped child's, whichever is larger).
/// What bringing up copies of one environment at once gave.
struct Copies {
    /// Copies whose COMMAND ran (every service ready), and exited 0 after.
    ready: usize,
    /// Ports given to more than one copy.
    collisions: usize,
    /// From the first launch until the last copy's COMMAND ran.
    seconds: f64,
}

/// Starts `n` fixture-mode rmanagers on `config` at once; each COMMAND prints its ports.
fn copies_at_once(config: &Path, n: usize) -> Option<Copies> {
    use std::io::{BufRead, BufReader};
    let started = Instant::now();
    let children: Vec<Child> = (0..n)
        .filter_map(|_| {
            Command::new(RMANAGER)
                .args(["--progress", "quiet", "-f"])
                .arg(config)
                .args(["--", "sh", "-c", "echo ports $P0 $P1 $P2 $P3 $P4"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    let (mut ready, mut last, mut ports) = (0, Duration::ZERO, Vec::new());
    for mut child in children {
        let stdout = BufReader::new(child.stdout.take()?);
        let mut seen = None;
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(list) = line.strip_prefix("ports ") {
                last = last.max(started.elapsed());
                seen = Some(list.split(' ').map(str::to_owned).collect::<Vec<_>>());
            }
        }
        let ok = child.wait().ok()?.success();
        if let (true, Some(seen)) = (ok, seen) {
            ready += 1;
            ports.extend(seen);
        }
    }
    let total = ports.len();
    ports.sort();
    ports.dedup();
    Some(Copies {
        ready,
        collisions: total - ports.len(),
        seconds: last.as_secs_f64(),
    })
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes what earlier runs left in the page cache to disk before a timed run, so that
/// each run starts alike: without it, the gigabytes the runs before wrote are written back
/// during the later ones, which compete with it for this machine's two cores.
fn settle_writes() {
    rustix::fs::sync();
}

/// Seconds for `cat data | cat > out`, the pipe as large as rmanager makes its own.
fn relayed(data: &Path, out: &Path) -> Option<f64> {
    let (read, write) = rustix::pipe::pipe().ok()?;
    rustix::pipe::fcntl_setpipe_size(&write, 1 << 20).ok()?;
    let file = std::fs::File::create(out).ok()?;
    settle_writes();
    let started = Instant::now();
    let mut from = Command::new("cat").arg(data).stdout(write).spawn().ok()?;
    let mut to = Command::new("cat").stdin(read).stdout(file).spawn().ok()?;
    let (a, b) = (from.wait().ok()?, to.wait().ok()?);
    (a.success() && b.success()).then(|| started.elapsed().as_secs_f64())
}

fn timed(command: &mut Command, out: &Path) -> Option<(f64, f64)> {
    let file = std::fs::File::create(out).ok()?;
    settle_writes();
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut status = 0;
    // SAFETY: wait4 on our own child, with plain out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    (waited > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0).then_some(())?;
    Some((seconds, usage.ru_maxrss as f64 / 1024.0))
}
