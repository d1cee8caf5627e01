//! A cgroup (v2) of the environment's own, where the hierarchy is writable (root in a CI
//! container, a delegated systemd scope). Everything rmanager starts is in it, and so is
//! everything that starts, daemons included, whatever session or group they move to;
//! nothing can leave it. The watchdog ends all of it with `cgroup.kill` should rmanager
//! be killed, and the end of a shutdown kills what is left.
//!
//! Moving a process into a cgroup waits for an RCU grace period, about 16 ms on a quiet
//! machine. So the command line moves rmanager itself in, once (its children are then
//! born inside), and only a library host, which must stay where it is, has each child
//! join on its way to exec.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_io::Async;
use rustix::fs::inotify;

/// How long the end of a shutdown waits for a killed cgroup to empty.
const EMPTY_LIMIT: Duration = Duration::from_secs(5);

pub struct Cgroup {
    dir: PathBuf,
    procs: OwnedFd,
    kill: OwnedFd,
    /// Whether rmanager itself moved in (see the module's text).
    holds_us: bool,
}

impl Cgroup {
    /// Creates a cgroup below rmanager's own; fails where cgroup v2 is not mounted or not
    /// writable, or too old to have `cgroup.kill` (Linux 5.14).
    pub fn create() -> io::Result<Cgroup> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let own = own_cgroup_dir()?;
        let name = format!(
            "rmanager-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = own.join(name);
        fs::create_dir(&dir)?;
        let open = |file: &str| -> io::Result<OwnedFd> {
            Ok(fs::OpenOptions::new()
                .write(true)
                .open(dir.join(file))?
                .into())
        };
        match (open("cgroup.procs"), open("cgroup.kill")) {
            (Ok(procs), Ok(kill)) => Ok(Cgroup {
                dir,
                procs,
                kill,
                holds_us: false,
            }),
            (Err(e), _) | (_, Err(e)) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves this process in, so that its children are born inside.
    pub(super) fn move_in(&mut self) -> io::Result<()> {
        rustix::io::write(&self.procs, b"0")?;
        self.holds_us = true;
        Ok(())
    }

    /// The descriptor a child writes "0" into, between clone and exec, to join; None when
    /// children are born inside.
    pub(super) fn procs_fd(&self) -> Option<libc::c_int> {
        (!self.holds_us).then(|| self.procs.as_raw_fd())
    }

    pub(super) fn holds_us(&self) -> bool {
        self.holds_us
    }

    pub(super) fn kill_fd(&self) -> libc::c_int {
        self.kill.as_raw_fd()
    }

    /// The path as a C string, for the watchdog, which may not allocate after its fork.
    pub(super) fn dir_c(&self) -> Option<CString> {
        CString::new(self.dir.as_os_str().as_bytes()).ok()
    }

    fn populated(&self) -> bool {
        fs::read_to_string(self.dir.join("cgroup.events"))
            .map(|events| events.lines().any(|l| l == "populated 1"))
            .unwrap_or(false)
    }

    /// Kills everything still in the cgroup (but rmanager) and waits (boundedly) until it
    /// is gone.
    pub async fn kill_all(&self) {
        if self.holds_us {
            let others = self.kill_others();
            if crate::runtime::timeout(EMPTY_LIMIT, others).await.is_none() {
                log::warn!("cgroup {} did not empty", self.dir.display());
            }
            return;
        }
        if !self.populated() {
            return;
        }
        if let Err(e) = rustix::io::write(&self.kill, b"1") {
            log::warn!("cannot kill cgroup {}: {e}", self.dir.display());
            return;
        }
        let emptied = async {
            // cgroup.events is modified when `populated` changes: awaited, not polled.
            let watch = inotify::init(inotify::CreateFlags::CLOEXEC).and_then(|fd| {
                inotify::add_watch(
                    &fd,
                    self.dir.join("cgroup.events"),
                    inotify::WatchFlags::MODIFY,
                )?;
                Ok(fd)
            });
            let Ok(watch) = watch.map_err(io::Error::from).and_then(Async::new) else {
                return;
            };
            while self.populated() {
                if watch.readable().await.is_err() {
                    return;
                }
                let mut buffer = [0u8; 1024];
                let _ = rustix::io::read(watch.get_ref(), &mut buffer);
            }
        };
        if crate::runtime::timeout(EMPTY_LIMIT, emptied)
            .await
            .is_none()
        {
            log::warn!("cgroup {} did not empty", self.dir.display());
        }
    }
}

impl Cgroup {
    /// With rmanager inside, `cgroup.kill` would take it along: every other process in
    /// `cgroup.procs` is SIGKILLed through a pidfd instead (so a pid that ended and was
    /// reused is never hit), until none is left. What they fork meanwhile is born inside
    /// and found on the next round.
    async fn kill_others(&self) {
        let us = std::process::id();
        // Cgroups below ours (a nested rmanager's) hold no rmanager of ours: killed whole.
        for child in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            // The entry's own type, not a stat of each of the cgroup's thirty files.
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::write(child.path().join("cgroup.kill"), "1");
            }
        }
        loop {
            let listed = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            let mut left = Vec::new();
            for pid in listed.lines().filter_map(|l| l.parse::<u32>().ok()) {
                if pid == us {
                    continue;
                }
                let Ok(pidfd) = super::linux::pidfd(pid) else {
                    continue;
                };
                // The pidfd names whoever has the pid now: only a member is killed.
                if !self.contains(pid) {
                    continue;
                }
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                if let Ok(pidfd) = Async::new(pidfd) {
                    left.push(pidfd);
                }
            }
            if left.is_empty() {
                return;
            }
            super::group::any_ended(&left).await;
        }
    }

    /// Every process in the cgroup and the cgroups below it (a nested rmanager's).
    pub(super) fn pids(&self) -> Vec<u32> {
        fn collect(dir: &Path, pids: &mut Vec<u32>) {
            let listed = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            pids.extend(listed.lines().filter_map(|l| l.parse::<u32>().ok()));
            for child in fs::read_dir(dir).into_iter().flatten().flatten() {
                if child.file_type().is_ok_and(|t| t.is_dir()) {
                    collect(&child.path(), pids);
                }
            }
        }
        let mut pids = Vec::new();
        collect(&self.dir, &mut pids);
        pids
    }

    /// Whether `pid` is in this cgroup now.
    fn contains(&self, pid: u32) -> bool {
        let Some(name) = self.dir.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|groups| {
            groups
                .lines()
                .any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}")))
        })
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Fails while something is still inside (EBUSY), rmanager itself included: the
        // watchdog then removes it once rmanager has exited.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The directory of rmanager's own cgroup in the v2 hierarchy.
fn own_cgroup_dir() -> io::Result<PathBuf> {
    let unsupported = || io::Error::new(io::ErrorKind::Unsupported, "no cgroup v2 hierarchy");
    let cgroups = fs::read_to_string("/proc/self/cgroup")?;
    let own = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(unsupported)?;
    // mountinfo: id parent major:minor root mount-point options ... - fstype source ...
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let (root, mount) = mountinfo
        .lines()
        .find_map(|line| {
            let (fields, fs_type) = line.split_once(" - ")?;
            fs_type.starts_with("cgroup2 ").then_some(())?;
            let mut fields = fields.split(' ');
            let root = fields.nth(3)?;
            let mount = fields.next()?;
            Some((root.to_owned(), mount.to_owned()))
        })
        .ok_or_else(unsupported)?;
    let relative = own.strip_prefix(root.as_str()).unwrap_or(own);
    Ok(Path::new(&mount).join(relative.trim_start_matches('/')))
}
