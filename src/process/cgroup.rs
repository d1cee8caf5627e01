//! A cgroup (v2) of the environment's own, where the hierarchy is writable (root in a CI
//! container, a delegated systemd scope). Everything rmanager starts is in it, and so is
//! everything that starts, daemons included, whatever session or group they move to;
//! nothing can leave it. The watchdog ends all of it with `cgroup.kill` should rmanager
//! be killed, and the end of a shutdown kills what is left.
//!
//! Children are born inside (clone3 with CLONE_INTO_CGROUP), and rmanager itself stays
//! outside: moving a process into a cgroup waits for an RCU grace period, 6 to 19 ms here.
//! Only where clone3 is hidden (a seccomp profile that answers ENOSYS, as Docker's did)
//! does each child move itself in on its way to exec.

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
    /// The directory, opened: where clone3 puts a child.
    handle: OwnedFd,
    procs: OwnedFd,
    kill: OwnedFd,
}

/// How a child gets into the cgroup: born in `dir`, or moved in by writing `procs`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub dir: libc::c_int,
    pub procs: libc::c_int,
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
        let handle = || -> io::Result<OwnedFd> {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            Ok(rustix::fs::open(&dir, flags, Mode::empty())?)
        };
        match (handle(), open("cgroup.procs"), open("cgroup.kill")) {
            (Ok(handle), Ok(procs), Ok(kill)) => Ok(Cgroup {
                dir,
                handle,
                procs,
                kill,
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn entry(&self) -> Entry {
        Entry {
            dir: self.handle.as_raw_fd(),
            procs: self.procs.as_raw_fd(),
        }
    }

    pub(super) fn kill_fd(&self) -> libc::c_int {
        self.kill.as_raw_fd()
    }

    /// The path as a C string, for the watchdog, which may not allocate after its fork.
    pub(super) fn dir_c(&self) -> Option<CString> {
        CString::new(self.dir.as_os_str().as_bytes()).ok()
    }

    /// An inotify descriptor that is readable once `cgroup.events` has changed, as it does
    /// when the cgroup empties: awaited, not polled.
    pub(super) fn watch_events(&self) -> io::Result<OwnedFd> {
        let watch = inotify::init(inotify::CreateFlags::CLOEXEC)?;
        let events = self.dir.join("cgroup.events");
        inotify::add_watch(&watch, events, inotify::WatchFlags::MODIFY)?;
        Ok(watch)
    }

    fn populated(&self) -> bool {
        fs::read_to_string(self.dir.join("cgroup.events"))
            .map(|events| events.lines().any(|l| l == "populated 1"))
            .unwrap_or(false)
    }

    /// Kills everything still in the cgroup and waits (boundedly) until it is gone.
    pub async fn kill_all(&self) {
        if !self.populated() {
            return;
        }
        if let Err(e) = rustix::io::write(&self.kill, b"1") {
            log::warn!("cannot kill cgroup {}: {e}", self.dir.display());
            return;
        }
        let emptied = async {
            let Ok(watch) = self.watch_events().and_then(Async::new) else {
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
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Fails while something is still inside (EBUSY): the watchdog then removes it
        // once it has emptied.
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
