//! An environment as the command line runs it, in each of its three modes: the control API,
//! the manager, and signals turned into a shutdown, or passed on to a fixture command.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::runtime::signals::SignalsInfo;
use futures_lite::StreamExt;
use signal_hook::consts::{SIGALRM, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::{Cause, Origin};

use crate::error::Error;
use crate::http::ControlApi;
use crate::process::{Child, Orphans, Signal};
use crate::spec::ManagerSpec;
use crate::supervisor::{Manager, ManagerStatus};

pub struct Environment {
    manager: Arc<Manager>,
    url: Option<String>,
    /// Where the signals rmanager receives go.
    target: Arc<Mutex<Target>>,
    signals: crate::runtime::signals::Handle,
    started: Instant,
    env_file: Option<PathBuf>,
    /// The ready line was said.
    announced: AtomicBool,
}

impl Environment {
    /// Binds the control API (when enabled), starts the launch, and takes over SIGINT,
    /// SIGTERM and SIGQUIT. Once everything is ready, the exports are written to `env_file`
    /// when given.
    pub async fn start(spec: ManagerSpec, env_file: Option<PathBuf>) -> Result<Environment, Error> {
        let started = Instant::now();
        let api = match spec.http.enabled {
            true => Some(ControlApi::bind(&spec.http).await?),
            false => None,
        };
        let url = api.as_ref().map(ControlApi::url);
        if let Some(url) = &url {
            crate::say!("HTTP control listening on {url}");
        }
        // What daemonizes comes back to rmanager, to be stopped with the rest.
        let orphans = match Orphans::adopt() {
            Ok(orphans) => Some(orphans),
            Err(e) => {
                log::warn!(
                    "cannot become a child subreaper ({e}): a process that daemonizes may outlive rmanager"
                );
                None
            }
        };
        crate::progress::show(&spec);
        // Started before the signal handlers exist, so its watchdog does not inherit them.
        let manager = Arc::new(Manager::start_with(spec, orphans)?);
        if let Some(api) = api {
            api.serve(manager.clone());
        }
        let signals = SignalsInfo::with_exfiltrator(
            [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM],
            WithOrigin::default(),
        )
        .map_err(|source| Error::Manager {
            what: "cannot install signal handlers",
            source,
        })?;
        let target = Arc::new(Mutex::new(Target::Shutdown));
        let handle = signals.handle();
        crate::runtime::spawn(handle_signals(signals, manager.clone(), target.clone()));
        Ok(Environment {
            manager,
            url,
            target,
            signals: handle,
            started,
            env_file,
            announced: AtomicBool::new(false),
        })
    }

    /// Waits until every process is ready; then says so, whatever -v says (the moment a
    /// test may begin), and writes the env file, before anything else may run.
    pub async fn ready(&self) -> Result<(), Error> {
        self.manager.ready().await?;
        if self.announced.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let count = self.manager.processes().len();
        crate::say!(
            "ready: {count} process{} in {:.2} s{}",
            if count == 1 { "" } else { "es" },
            self.started.elapsed().as_secs_f64(),
            self.url
                .as_ref()
                .map(|url| format!(", control API at {url}"))
                .unwrap_or_default()
        );
        if let Some(path) = &self.env_file {
            if let Err(e) = write_env_file(path, &self.exports()) {
                crate::say!("cannot write {}: {e}", path.display());
            }
        }
        unmap_startup_code();
        Ok(())
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The control API's URL, when it is enabled.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// What whoever runs the tests is told: the ports, and `RMANAGER_URL` when the control
    /// API is enabled.
    pub fn exports(&self) -> Vec<(String, String)> {
        let ports = self.manager.ports().into_iter();
        let ports = ports.map(|(name, port)| (name, port.to_string()));
        let url = self
            .url
            .iter()
            .map(|u| ("RMANAGER_URL".to_owned(), u.clone()));
        ports.chain(url).collect()
    }

    /// Keeps the signals rmanager receives from now on, for the fixture command about to
    /// start: it may run, and be signalled with rmanager, before its start is heard of.
    /// False when a shutdown has begun already (then the command must not start).
    pub(crate) fn hold_signals(&self) -> bool {
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock: a signal taken before it has begun the shutdown already.
        let status = self.manager.status();
        if matches!(
            status,
            ManagerStatus::Shutdown | ManagerStatus::ForceShutdown
        ) {
            return false;
        }
        *target = Target::Held(Vec::new());
        true
    }

    /// Sends the signals rmanager receives, and those held, to this process (None: back
    /// to shutting down).
    pub(crate) fn pass_signals_to(&self, command: Option<Arc<Child>>) {
        let new = match command {
            Some(command) => Target::Command(command),
            None => Target::Shutdown,
        };
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        if let Target::Held(held) = std::mem::replace(&mut *target, new) {
            for signal in held {
                match &*target {
                    // Even a Ctrl-C: the command did not exist when the terminal sent it.
                    Target::Command(command) => command.signal(Signal(signal)),
                    _ => target.take(signal, Cause::Kernel, &self.manager),
                }
            }
        }
    }

    /// Waits until the environment has shut down. Fails when its launch did: a shutdown
    /// that came before every process was ready is [`Error::Interrupted`].
    pub async fn wait(self) -> Result<(), Error> {
        let launch = self.ready().await;
        let result = self.manager.wait().await;
        self.signals.close();
        result.and(launch)
    }
}

/// `--env-file`: the exports as a dotenv file, whole or not at all (written beside it,
/// then renamed), so that a reader waiting for it never sees half.
fn write_env_file(path: &Path, exports: &[(String, String)]) -> std::io::Result<()> {
    let text: String = exports.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

/// Where a signal to rmanager goes.
enum Target {
    /// It shuts the environment down.
    Shutdown,
    /// Kept for the fixture command about to start.
    Held(Vec<i32>),
    /// Passed on to the fixture command.
    Command(Arc<Child>),
}

impl Target {
    fn take(&mut self, signal: i32, cause: Cause, manager: &Manager) {
        match self {
            // A Ctrl-C at the terminal reached the command already: it runs in rmanager's
            // process group. Anything else is passed on.
            Target::Command(command) => {
                if !(signal == SIGINT && cause == Cause::Kernel) {
                    command.signal(Signal(signal));
                }
            }
            Target::Held(held) => held.push(signal),
            // A SIGINT during a shutdown, whatever began it, kills everything at once.
            Target::Shutdown => {
                if !manager.shutdown() && signal == SIGINT {
                    manager.force_shutdown();
                }
            }
        }
    }
}

async fn handle_signals(
    mut signals: SignalsInfo<WithOrigin>,
    manager: Arc<Manager>,
    target: Arc<Mutex<Target>>,
) {
    while let Some(Origin { signal, cause, .. }) = signals.next().await {
        // Their default action would kill rmanager on the spot, leaving the watchdog to
        // SIGKILL everything without grace: taken and ignored instead.
        if [SIGUSR1, SIGUSR2, SIGALRM].contains(&signal) {
            log::info!("ignoring signal {signal}");
            continue;
        }
        let mut target = target.lock().unwrap_or_else(|e| e.into_inner());
        target.take(signal, cause, &manager);
    }
}

/// Lets go of the pages of rmanager's own code once the environment is up. Reading and
/// checking the file (the schema validator and its regular expressions above all) runs half
/// of the binary's code once; the kernel maps it, 64 KiB around each page touched, and it
/// would count as rmanager's resident memory for the environment's life. MADV_DONTNEED
/// takes those pages out of rmanager's page tables but leaves them in the page cache: what
/// runs again later (a restart, the control API, the shutdown) is mapped back at its first
/// use without reading the disk. (MADV_PAGEOUT would also drop them from the cache, and
/// the next request would wait for the disk: milliseconds.) Only on mappings with no
/// private copy of a page (`Anonymous: 0 kB`): on a read-only mapping nothing can be
/// written since, and dropping a relocated page would undo its relocation.
fn unmap_startup_code() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Some(exe) = exe.to_str() else {
        return;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    // Each mapping: its header (`start-end perms offset dev inode path`), then its fields.
    let mut ours: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-') {
            let permissions = fields.next().unwrap_or("");
            let read_only = permissions.starts_with("r-");
            ours = match (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) {
                (Ok(start), Ok(end)) if read_only && fields.nth(3) == Some(exe) => {
                    Some((start, end))
                }
                _ => None,
            };
        } else if first == "Anonymous:" && fields.next() == Some("0") {
            if let Some((start, end)) = ours.take() {
                // SAFETY: one of our own read-only file mappings with no private page, as
                // the kernel lists it: its pages are the file's, mapped again at next use.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }
}
