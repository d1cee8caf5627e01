//! The guarantee that no process group outlives rmanager, even when rmanager is killed
//! with SIGKILL and runs no code of its own at all.
//!
//! PR_SET_PDEATHSIG reaches only the direct children (the launcher sets it too), not what a
//! shell command started, so the watchdog works on whole groups: a small process forked
//! from rmanager that holds one end of a socket. Each child records its group there before
//! it runs its program; rmanager tells it when a group has emptied (its id may then be
//! reused) and when a spawn failed after recording. When the socket reaches end-of-file,
//! because rmanager exited or died, the watchdog SIGKILLs every group still recorded and
//! exits. The kernel closes the socket of a dead process at once, so the groups die within
//! milliseconds.
//!
//! It is named `rmgr-watchdog` (its comm and its argv), so that the cleanup lines CI
//! scripts use, `killall -9 rmanager` and `pkill -9 rmanager` (which matches any name
//! that merely contains the word), do not kill it along with rmanager.
//!
//! The watchdog is forked rather than executed, so it works as well when rmanager is a
//! library inside a test binary. After fork(2) in a multi-threaded process the child may
//! call only async-signal-safe functions: it makes plain system calls and keeps its records
//! on the stack.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::cgroup::Cgroup;

/// The most groups one watchdog guards at once; a process group per managed process.
const CAPACITY: usize = 4096;

/// The watchdog's name, as `ps`, `killall` and `pkill` see it.
const NAME: &[u8] = b"rmgr-watchdog\0";

/// What a record asks, its first word; then a spawn's sequence number and a pid.
const ADD: i32 = 1;
const CANCEL: i32 = 2;
const FORGET: i32 = 3;
const DISMISS: i32 = 4;

/// A running watchdog. Dropping it, once everything has stopped, dismisses it and reaps it.
pub struct Watchdog {
    pid: libc::pid_t,
    socket: Option<OwnedFd>,
    /// The environment's cgroup, where one could be made: every child starts in it.
    cgroup: Option<Cgroup>,
    next: AtomicI32,
    dismissed: AtomicBool,
}

/// A spawn's record, to cancel should the spawn fail after the child recorded itself.
#[derive(Debug, Clone, Copy)]
pub struct Registration(i32);

/// What a child does for the watchdog before it runs its program (see `register`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    socket: libc::c_int,
    sequence: i32,
}

impl Record {
    /// Records the child's group. Runs in the child between clone and exec: system calls
    /// only. Returns the errno of the step that failed.
    pub(super) fn announce(&self) -> Result<(), libc::c_int> {
        let errno = || {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        // SAFETY: writes and sends from buffers on this stack to descriptors that stay
        // open while the child is set up.
        unsafe {
            let record = encode(ADD, self.sequence, libc::getpid());
            // MSG_NOSIGNAL: a dead watchdog fails the spawn visibly (EPIPE) instead of
            // killing the child with SIGPIPE while rmanager believes it started.
            let sent = libc::send(
                self.socket,
                record.as_ptr().cast(),
                record.len(),
                libc::MSG_NOSIGNAL,
            );
            if sent != record.len() as isize {
                return Err(errno());
            }
        }
        Ok(())
    }
}

impl Watchdog {
    /// Starts the watchdog, and makes the environment's cgroup where one can be made.
    pub fn start() -> io::Result<Watchdog> {
        // SEQPACKET: each record arrives whole, whoever wrote it. CLOEXEC: a child that
        // inherited rmanager's end would keep the socket open forever.
        let (ours, theirs) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        let argv = argv_area();
        let cgroup = Cgroup::create()
            .inspect_err(|e| log::debug!("no cgroup of its own for the environment: {e}"))
            .ok();
        let cgroup_dir = cgroup.as_ref().and_then(Cgroup::dir_c);
        let events = cgroup.as_ref().and_then(|c| c.watch_events().ok());
        let kill = Cleanup {
            kill_fd: cgroup.as_ref().map_or(-1, Cgroup::kill_fd),
            dir: cgroup_dir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            events_fd: events.as_ref().map_or(-1, |e| e.as_raw_fd()),
        };
        // SAFETY: the child runs only `guard`, which calls async-signal-safe functions.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                // SAFETY: in the child, right after fork; the descriptors are its copies,
                // and the path's memory its copy of ours.
                unsafe { guard(theirs.as_raw_fd(), argv, kill) }
            }
            pid => {
                drop(theirs);
                super::launcher::claim(pid as u32);
                Ok(Watchdog {
                    pid,
                    socket: Some(ours),
                    cgroup,
                    next: AtomicI32::new(1),
                    dismissed: AtomicBool::new(false),
                })
            }
        }
    }

    /// Makes a child started from `command` start in the environment's cgroup and record
    /// its own group before it runs its program. Recording it from rmanager after spawn()
    /// returned would leave a window in which a SIGKILL to rmanager orphans a child that
    /// is already running.
    pub(super) fn register(&self, command: &mut super::Command) -> Registration {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        command.record = self.socket.as_ref().map(|socket| Record {
            socket: socket.as_raw_fd(),
            sequence,
        });
        self.contain(command);
        Registration(sequence)
    }

    /// Makes a child started from `command` start in the environment's cgroup, without a
    /// group of its own to record (the fixture command, in rmanager's group).
    pub fn contain(&self, command: &mut super::Command) {
        command.cgroup = self.cgroup.as_ref().map(Cgroup::entry);
    }

    /// Drops the record of a spawn that failed after its child recorded itself.
    pub(super) fn cancel(&self, registration: Registration) {
        self.send(CANCEL, registration.0, 0);
    }

    /// Forgets a group that has emptied: its id may be reused from now on.
    pub(super) fn forget(&self, pgid: u32) {
        self.send(FORGET, 0, pgid as i32);
    }

    /// Every process in the environment's cgroup, where it has one: a group's members are
    /// there (nothing leaves a cgroup), so looking among these is looking at far fewer
    /// processes than the whole machine's.
    pub(super) fn environment_pids(&self) -> Option<Vec<u32>> {
        self.cgroup.as_ref().map(Cgroup::pids)
    }

    /// What guards the environment, in words for `-v`.
    pub fn describe(&self) -> String {
        match &self.cgroup {
            Some(cgroup) => format!(
                "process groups, a watchdog process, and the cgroup {}",
                cgroup.dir().display()
            ),
            None => {
                "process groups and a watchdog process (no writable cgroup v2 hierarchy)".to_owned()
            }
        }
    }

    /// Kills whatever is left in the environment's cgroup: for the end of a shutdown,
    /// once everything had its grace.
    pub async fn sweep(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill_all().await;
        }
    }

    /// Sends the watchdog away without killing anything: for after a complete shutdown.
    pub fn dismiss(&self) {
        if !self.dismissed.swap(true, Ordering::SeqCst) {
            self.send(DISMISS, 0, 0);
        }
    }

    fn send(&self, op: i32, sequence: i32, pid: i32) {
        // Once dismissed, it is gone, and nothing is left to guard (a group killed on the
        // way out may still say it emptied).
        let Some(socket) = self
            .socket
            .as_ref()
            .filter(|_| op == DISMISS || !self.dismissed.load(Ordering::SeqCst))
        else {
            return;
        };
        let record = encode(op, sequence, pid);
        if let Err(e) = rustix::net::send(socket, &record, rustix::net::SendFlags::NOSIGNAL) {
            log::warn!("the watchdog is gone ({e}); groups may outlive a killed rmanager");
        }
    }
}

fn encode(op: i32, sequence: i32, pid: i32) -> [u8; 12] {
    let mut record = [0; 12];
    record[..4].copy_from_slice(&op.to_ne_bytes());
    record[4..8].copy_from_slice(&sequence.to_ne_bytes());
    record[8..].copy_from_slice(&pid.to_ne_bytes());
    record
}

/// Where this process's argv strings are (/proc/self/stat fields 48 and 49), read before
/// the fork, where reading a file is still allowed.
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Fields counted from 1, the first two (pid, comm) before the ')'.
    let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    Some((field(48)?, field(49)?)).filter(|(start, end)| start < end)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.dismiss();
        drop(self.socket.take());
        // It exits as soon as it sees end-of-file, so this wait is short.
        // SAFETY: waitpid on the child we forked.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        super::launcher::release(self.pid as u32);
    }
}

/// What the watchdog does to the environment's cgroup when rmanager is gone: kill it
/// (a descriptor of `cgroup.kill`, or -1), then remove it (a path, or null) once it has
/// emptied (told by an inotify descriptor on `cgroup.events`, or -1).
#[derive(Clone, Copy)]
struct Cleanup {
    kill_fd: libc::c_int,
    dir: *const libc::c_char,
    events_fd: libc::c_int,
}

/// The watchdog's whole life: take a name of its own, collect records until end-of-file,
/// then kill.
///
/// # Safety
/// Call only in a freshly forked child, with `fd` its end of the socket.
unsafe fn guard(fd: libc::c_int, argv: Option<(usize, usize)>, cgroup: Cleanup) -> ! {
    // SAFETY: async-signal-safe calls on plain integers, and writes to this process's own
    // argv strings, which no other thread exists to read.
    unsafe {
        // Keep only the socket, as stdin, the cgroup's kill switch, as stdout, and the
        // watch on its events, as stderr. Every other descriptor is a copy that would keep something open for as long as the
        // watchdog lives: rmanager's stdout, a listening socket, or the socket of another
        // watchdog forked in the same process (each would then wait for the other's
        // end-of-file forever).
        if fd != 0 {
            libc::dup2(fd, 0);
        }
        if cgroup.kill_fd >= 0 {
            libc::dup2(cgroup.kill_fd, 1);
        } else {
            libc::close(1);
        }
        if cgroup.events_fd >= 0 {
            libc::dup2(cgroup.events_fd, 2);
        } else {
            libc::close(2);
        }
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            for other in 2..limit.rlim_cur.min(1 << 20) as libc::c_int {
                libc::close(other);
            }
        }
        let fd = 0;
        libc::prctl(libc::PR_SET_NAME, NAME.as_ptr());
        if let Some((start, end)) = argv {
            let area = std::slice::from_raw_parts_mut(start as *mut u8, end - start);
            area.fill(0);
            let n = (NAME.len() - 1).min(area.len() - 1);
            area[..n].copy_from_slice(&NAME[..n]);
        }
        // Its own group, so that a Ctrl-C at the terminal (meant for rmanager, which then
        // shuts down properly) does not reach the watchdog; and no inherited handlers: only
        // SIGKILL, which nobody sends it by mistake, ends it early.
        libc::setpgid(0, 0);
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGPIPE,
        ] {
            libc::signal(signal, libc::SIG_IGN);
        }
        // (sequence, group) pairs; the sequence lets a failed spawn's record be cancelled.
        let mut groups = [(0i32, 0 as libc::pid_t); CAPACITY];
        let mut count = 0;
        let mut dismissed = false;
        loop {
            let mut record = [0u8; 12];
            let n = libc::recv(fd, record.as_mut_ptr().cast(), record.len(), 0);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            let word = |i: usize| {
                i32::from_ne_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]])
            };
            let (op, sequence, pid) = (word(0), word(4), word(8));
            let found = match op {
                ADD => {
                    if count < CAPACITY && pid > 0 {
                        groups[count] = (sequence, pid);
                        count += 1;
                    }
                    None
                }
                CANCEL => groups[..count].iter().position(|&(s, _)| s == sequence),
                FORGET => groups[..count].iter().position(|&(_, g)| g == pid),
                // Nothing to kill: only the cgroup to remove, once rmanager has gone.
                DISMISS => {
                    dismissed = true;
                    None
                }
                _ => None,
            };
            if let Some(i) = found {
                count -= 1;
                groups[i] = groups[count];
            }
        }
        if !dismissed {
            if cgroup.kill_fd >= 0 {
                libc::write(1, b"1".as_ptr().cast(), 1);
            }
            for &(_, pgid) in &groups[..count] {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        // The cgroup can be removed once the killed have exited: tried again each time its
        // events change (without a watch, every 10 ms), for a second at most.
        if !cgroup.dir.is_null() {
            let now = || {
                let mut t: libc::timespec = std::mem::zeroed();
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
                t.tv_sec as i64 * 1000 + t.tv_nsec as i64 / 1_000_000
            };
            let deadline = now() + 1000;
            let watched = cgroup.events_fd >= 0;
            // A negative descriptor makes poll a plain wait.
            let mut watch = libc::pollfd {
                fd: if watched { 2 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            };
            while libc::rmdir(cgroup.dir) != 0 && *libc::__errno_location() == libc::EBUSY {
                let left = deadline - now();
                if left <= 0 {
                    break;
                }
                let wait = if watched { left } else { left.min(10) };
                if libc::poll(&mut watch, 1, wait as libc::c_int) > 0 {
                    let mut events = [0u8; 512];
                    libc::read(2, events.as_mut_ptr().cast(), events.len());
                }
            }
        }
        libc::_exit(0)
    }
}
