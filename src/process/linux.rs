//! The Linux system calls behind rmanager's processes: pidfds (an exit to await, a pid that
//! is not reaped behind our back), waitid, signals to groups, and what /proc says.

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

use super::ProcessEnd;

/// A signal rmanager sends: its own (TERM, KILL, CONT) or one it passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub libc::c_int);

impl Signal {
    pub const TERM: Signal = Signal(libc::SIGTERM);
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// Sent after SIGTERM, so that a stopped process can act on it.
    pub const CONT: Signal = Signal(libc::SIGCONT);
}

/// Sends `signal` to every process in the group `pgid`. A group that no longer exists is
/// not an error. Callers must hold an unreaped member of the group (see `group.rs`): only
/// that proves the id has not been reused.
pub fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    kill(-(pgid as libc::pid_t), signal)
}

/// Sends `signal` to one process; the same proof is the caller's to hold.
pub fn signal_process(pid: u32, signal: Signal) -> io::Result<()> {
    kill(pid as libc::pid_t, signal)
}

fn kill(target: libc::pid_t, signal: Signal) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers.
    if unsafe { libc::kill(target, signal.0) } == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ESRCH) => Ok(()),
        _ => Err(error),
    }
}

/// A pidfd for `pid`: readable once that process has ended.
pub fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// How a child of ours ended, read without reaping it (its pid stays taken), or None while
/// it runs.
pub fn peek_end(pidfd: impl AsFd) -> io::Result<Option<ProcessEnd>> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
    let status = rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), options)?;
    Ok(status.and_then(|status| {
        if let Some(code) = status.exit_status() {
            Some(ProcessEnd::Exited(code))
        } else {
            status.terminating_signal().map(ProcessEnd::Signaled)
        }
    }))
}

/// Reaps an ended child of ours: from here on its pid (and group id) may be reused.
pub fn reap(pidfd: impl AsFd) -> io::Result<()> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), options)?;
    Ok(())
}

/// Reaps an ended child by pid, for orphans that were adopted without a pidfd of ours.
pub fn reap_pid(pid: u32) -> io::Result<()> {
    let Some(pid) = Pid::from_raw(pid as i32) else {
        return Ok(());
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    rustix::process::waitid(WaitId::Pid(pid), options)?;
    Ok(())
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// The program's name, as `ps` shows it.
    pub name: String,
    pub zombie: bool,
    pub pgrp: u32,
}

pub fn stat(pid: u32) -> Option<Stat> {
    use std::io::Read;
    // One read of the line's start, where the fields used are (the name is at most 15
    // bytes): /proc files have no size, so a whole-file read grows its buffer read by read,
    // and a scan of /proc reads one such file per process on the machine.
    let mut line = [0u8; 256];
    let n = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut file| file.read(&mut line))
        .ok()?;
    let line = &line[..n];
    // The name is in parentheses and may contain anything, parentheses too.
    let open = line.iter().position(|&b| b == b'(')?;
    let close = line.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(line.get(close + 1..)?).ok()?;
    let mut rest = rest.split_ascii_whitespace();
    let state = rest.next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(Stat {
        pid,
        name: String::from_utf8_lossy(line.get(open + 1..close)?).into_owned(),
        zombie: state == "Z" || state == "X",
        pgrp,
    })
}

/// Every live (not zombie) process in group `pgid`, looked for `among` these pids (every
/// process on the machine when None).
pub fn group_members(pgid: u32, among: Option<Vec<u32>>) -> Vec<Stat> {
    among
        .unwrap_or_else(all_pids)
        .into_iter()
        .filter_map(stat)
        .filter(|s| s.pgrp == pgid && !s.zombie)
        .collect()
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The children of this process, of every thread (an orphan is adopted by one of them).
pub fn children() -> Vec<u32> {
    let mut children = Vec::new();
    for task in fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            children.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    children
}
