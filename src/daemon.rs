//! Daemon mode, `rmanager -d`: the environment runs in the background, and the command the
//! user typed returns once it is ready (exit 0), or failed and was shut down (exit 5).
//!
//! A multi-threaded process must not fork, so the fork comes first: after the file was
//! validated, before the async runtime and its threads exist. The daemon (a grandchild in
//! a session of its own, without a terminal) reports through a pipe: first its pid, then
//! `ready` or why it failed. The waiting command relays that and exits.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::environment::Environment;
use crate::error::{Error, exit_code};
use crate::spec::ManagerSpec;

/// Which side of the fork this is.
pub enum Detached {
    /// The command the user typed, with the exit code to return.
    Waiting(u8),
    /// The daemon, with the way back to the waiting command.
    Daemon(Notifier),
}

/// Detaches into the background. Call only while the process has a single thread.
pub fn detach(logfile: Option<&File>) -> Result<Detached, Error> {
    let failed = |what, source| Error::Manager { what, source };
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(failed("cannot create a pipe", io::Error::last_os_error()));
    }
    // SAFETY: both descriptors are new and ours.
    let (reader, writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let _ = io::stdout().flush();
    // SAFETY: single-threaded here (see above), so the child may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(failed("cannot fork", io::Error::last_os_error())),
        0 => {
            drop(reader);
            // SAFETY: plain system calls in the single-threaded child.
            unsafe {
                libc::setsid();
                // The session leader exits, so the daemon can never regain a terminal.
                match libc::fork() {
                    0 => {}
                    -1 => libc::_exit(1),
                    _ => libc::_exit(0),
                }
            }
            redirect_stdio(logfile).map_err(|e| failed("cannot redirect output", e))?;
            Ok(Detached::Daemon(Notifier(writer)))
        }
        child => {
            drop(writer);
            // SAFETY: reaps the short-lived session leader.
            unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
            Ok(Detached::Waiting(wait_for_report(reader)))
        }
    }
}

/// stdin from /dev/null; stdout and stderr (the daemon's and its children's) to the
/// logfile, else nowhere.
fn redirect_stdio(logfile: Option<&File>) -> io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    let out = logfile.unwrap_or(&null);
    for (from, to) in [(&null, 0), (out, 1), (out, 2)] {
        // SAFETY: dup2 on descriptors that are open.
        if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The daemon's pid, for the waiting command's SIGINT handler.
static DAEMON: AtomicI32 = AtomicI32::new(0);

/// Relays the daemon's report; returns the exit code.
fn wait_for_report(mut reader: File) -> u8 {
    let mut report = String::new();
    let mut chunk = [0; 4096];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                report.push_str(&String::from_utf8_lossy(&chunk[..n]));
                // The pid comes first: from then on, a Ctrl-C here stops the daemon, which
                // then reports the interruption.
                if DAEMON.load(Ordering::SeqCst) == 0 {
                    if let Some(pid) = report.strip_prefix("pid ").and_then(|r| r.split_once('\n'))
                    {
                        DAEMON.store(pid.0.parse().unwrap_or(0), Ordering::SeqCst);
                        forward_interrupts();
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let outcome = report.split_once('\n').map_or("", |(_, rest)| rest);
    if let Some(ready) = outcome.strip_prefix("ready ") {
        let (ready, exports) = ready.split_once('\n').unwrap_or((ready, ""));
        crate::report::stdout(&format!("rmanager running ({ready})\n{exports}"));
        return exit_code::OK;
    }
    if let Some((code, message)) = outcome
        .strip_prefix("failed ")
        .and_then(|r| r.split_once(' '))
    {
        crate::report::stderr(message);
        return code.parse().unwrap_or(exit_code::SETUP_FAILED);
    }
    crate::report::stderr("rmanager: the daemon exited before it reported; see its logfile (-l)\n");
    exit_code::SETUP_FAILED
}

fn forward_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only loads an atomic and calls kill(2), both signal-safe.
        let _ = unsafe {
            signal_hook::low_level::register(signal, || {
                libc::kill(DAEMON.load(Ordering::SeqCst), libc::SIGTERM);
            })
        };
    }
}

/// The daemon's end of the pipe to the waiting command.
pub struct Notifier(File);

impl Notifier {
    fn send(&mut self, text: &str) {
        // The waiting command may be gone (killed); the daemon carries on regardless.
        let _ = self.0.write_all(text.as_bytes());
    }

    /// Then the exports, a `KEY=value` line each.
    fn ready(mut self, environment: &Environment) {
        let url = environment.url().map(|u| format!(", {u}"));
        let mut report = format!(
            "ready pid {}{}\n",
            std::process::id(),
            url.unwrap_or_default()
        );
        for (name, value) in environment.exports() {
            report.push_str(&format!("{name}={value}\n"));
        }
        self.send(&report);
    }

    fn failed(mut self, error: &Error) {
        self.send(&format!("failed {} {error}\n", error.exit_code()));
    }
}

/// The daemon's life: write the pidfile, run the environment, report, remove the pidfile.
pub async fn serve(
    spec: ManagerSpec,
    mut notifier: Notifier,
    pidfile: Option<PathBuf>,
    env_file: Option<PathBuf>,
) -> Result<(), Error> {
    notifier.send(&format!("pid {}\n", std::process::id()));
    let _pidfile = match pidfile.map(PidFile::write).transpose() {
        Ok(pidfile) => pidfile,
        Err(error) => {
            notifier.failed(&error);
            return Err(error);
        }
    };
    let environment = match Environment::start(spec, env_file).await {
        Ok(environment) => environment,
        Err(error) => {
            notifier.failed(&error);
            return Err(error);
        }
    };
    match environment.ready().await {
        Ok(()) => notifier.ready(&environment),
        Err(error) => {
            // Report only once everything is stopped: the waiting command's exit promises it.
            let _ = environment.wait().await;
            notifier.failed(&error);
            return Err(error);
        }
    }
    environment.wait().await
}

/// The daemon's pid in a file, locked (flock) for as long as the daemon lives, and removed
/// when it ends only if it is still this daemon's: a second daemon started on the same
/// pidfile is refused, and a stopping daemon never deletes its successor's file.
struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    fn write(path: PathBuf) -> Result<PidFile, Error> {
        let failed = |source| Error::PidFile {
            path: path.clone(),
            source,
        };
        // Opened without truncating: the file may be a running daemon's.
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(failed)?;
        if let Err(e) =
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(failed(match e.kind() {
                io::ErrorKind::WouldBlock => {
                    io::Error::other(format!("a running daemon holds it (pid {})", holder.trim()))
                }
                _ => e.into(),
            }));
        }
        file.set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(failed)?;
        Ok(PidFile { path, file })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed under the lock, and only if the path still names the file we locked.
        let ours = match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(at_path), Ok(locked)) => {
                use std::os::unix::fs::MetadataExt;
                (at_path.dev(), at_path.ino()) == (locked.dev(), locked.ino())
            }
            _ => false,
        };
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
