//! The guarantee that no process group outlives rmanager, even when rmanager is killed
//! with SIGKILL and runs no code of its own at all.
//!
//! PR_SET_PDEATHSIG would reach only the direct children, not what a shell command started,
//! so the watchdog works on whole groups instead: a small process forked from rmanager that
//! holds the read end of a pipe. Each child writes its group into the pipe before it runs
//! its program, and rmanager writes each group it has stopped; when the pipe reaches end-of-file, because rmanager exited or
//! died, the watchdog SIGKILLs every group still recorded and exits. The kernel closes the
//! pipe of a dead process at once, so the groups die within milliseconds.
//!
//! The watchdog is forked rather than executed, so it works as well when rmanager is a
//! library inside a test binary. After fork(2) in a multi-threaded process the child may
//! call only async-signal-safe functions: it makes plain system calls (dup2, close, read,
//! kill, signal, setpgid, _exit) and keeps its records on the stack.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// The most groups one watchdog guards at once; a process group per managed process.
const CAPACITY: usize = 4096;

/// A running watchdog. Dropping it, once everything has stopped, dismisses it and reaps it.
pub struct Watchdog {
    pid: libc::pid_t,
    pipe: Option<File>,
    dismissed: AtomicBool,
}

impl Watchdog {
    pub fn start() -> io::Result<Watchdog> {
        let mut fds = [0; 2];
        // CLOEXEC: a child that inherited the write end would keep the pipe open forever.
        // SAFETY: pipe2 writes two descriptors into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        // SAFETY: the child runs only `guard`, which calls async-signal-safe functions.
        match unsafe { libc::fork() } {
            -1 => {
                let error = io::Error::last_os_error();
                // SAFETY: both descriptors are ours and open.
                unsafe {
                    libc::close(read_end);
                    libc::close(write_end);
                }
                Err(error)
            }
            0 => {
                // SAFETY: in the child, right after fork; the descriptors are its copies.
                unsafe {
                    libc::close(write_end);
                    guard(read_end)
                }
            }
            pid => {
                // SAFETY: the read end is ours and open; the write end now has one owner.
                unsafe { libc::close(read_end) };
                let pipe = unsafe { File::from_raw_fd(write_end) };
                Ok(Watchdog {
                    pid,
                    pipe: Some(pipe),
                    dismissed: AtomicBool::new(false),
                })
            }
        }
    }

    /// Makes a child started from `command` record its own group before it runs its
    /// program. Recording it from rmanager after spawn() returned would leave a window in
    /// which a SIGKILL to rmanager orphans a child that is already running.
    pub fn watch(&self, command: &mut std::process::Command) {
        let Some(pipe) = &self.pipe else { return };
        let fd = pipe.as_raw_fd();
        // SAFETY: runs in the child between fork and exec, calling only getpid and write.
        unsafe {
            command.pre_exec(move || {
                let record = libc::getpid().to_ne_bytes();
                if libc::write(fd, record.as_ptr().cast(), record.len()) != record.len() as isize {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Forgets a group that has been stopped (its id may be reused).
    pub fn forget(&self, pgid: u32) {
        self.send(-(pgid as i32));
    }

    /// Sends the watchdog away without killing anything: for after a complete shutdown,
    /// when every group is gone and what is still recorded (a child whose exec failed)
    /// must not be killed under a reused id.
    pub fn dismiss(&self) {
        if !self.dismissed.swap(true, Ordering::SeqCst) {
            self.send(0);
        }
    }

    fn send(&self, record: i32) {
        // A write of at most PIPE_BUF bytes is atomic, so records never interleave.
        if let Some(mut pipe) = self.pipe.as_ref() {
            if let Err(e) = pipe.write_all(&record.to_ne_bytes()) {
                log::warn!("the watchdog is gone ({e}); groups may outlive a killed rmanager");
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.dismiss();
        drop(self.pipe.take());
        // It exits as soon as it sees end-of-file, so this wait is short.
        // SAFETY: waitpid on the child we forked.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
    }
}

/// The watchdog's whole life: collect records until end-of-file, then kill.
///
/// # Safety
/// Call only in a freshly forked child, with `fd` the read end of the pipe.
unsafe fn guard(fd: libc::c_int) -> ! {
    // SAFETY: async-signal-safe calls on plain integers.
    unsafe {
        // Keep only the pipe, as stdin. Every other descriptor is a copy that would keep
        // something open for as long as the watchdog lives: rmanager's stdout, a listening
        // socket, or the pipe of another watchdog forked in the same process (each would
        // then wait for the other's end-of-file forever).
        if fd != 0 {
            libc::dup2(fd, 0);
        }
        if libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) != 0 {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            for other in 1..limit.rlim_cur.min(1 << 20) as libc::c_int {
                libc::close(other);
            }
        }
        let fd = 0;
        // Its own group, so that a Ctrl-C at the terminal (meant for rmanager, which then
        // shuts down properly) does not reach the watchdog; and no inherited handlers.
        libc::setpgid(0, 0);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT, libc::SIGHUP] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let mut groups = [0 as libc::pid_t; CAPACITY];
        let mut count = 0;
        let mut record = [0u8; 4];
        let mut filled = 0;
        loop {
            let n = libc::read(fd, record[filled..].as_mut_ptr().cast(), 4 - filled);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            filled += n as usize;
            if filled < 4 {
                continue;
            }
            filled = 0;
            match i32::from_ne_bytes(record) {
                pgid if pgid > 0 && count < CAPACITY => {
                    groups[count] = pgid;
                    count += 1;
                }
                pgid if pgid < 0 => {
                    if let Some(i) = groups[..count].iter().position(|&g| g == -pgid) {
                        count -= 1;
                        groups[i] = groups[count];
                    }
                }
                0 => libc::_exit(0),
                _ => {} // past CAPACITY
            }
        }
        for &pgid in &groups[..count] {
            libc::kill(-pgid, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}
