//! How a [`Command`] becomes a running child (Linux).
//!
//! The child is cloned with CLONE_VM | CLONE_VFORK, as posix_spawn does: it borrows
//! rmanager's memory until it execs, so nothing is copied. A fork would copy the page
//! tables and make rmanager fault on every page it writes afterwards, a few milliseconds of
//! CPU per child here; std takes that path as soon as a child needs any set-up of ours
//! (PR_SET_PDEATHSIG, the watchdog's record), and every child does.
//!
//! Everything is prepared in the parent; the child only makes system calls on its own
//! stack, and writes the errno of a failed step where the parent reads it once the child
//! has exec'd or exited. CLONE_PIDFD hands over a pidfd with the pid, so there is no moment
//! at which the pid could name another process. Where the environment has a cgroup, the
//! child is born in it (clone3 with CLONE_INTO_CGROUP, see [`super::cgroup`]).

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::command::{Command, Stdio};
use super::watchdog::Record;

/// The child's stack until it execs: exec and the few calls before it need little.
pub(super) const STACK: usize = 64 * 1024;

/// A child that has started its program.
pub(super) struct Spawned {
    pub pid: u32,
    pub pidfd: OwnedFd,
    pub pipes: Pipes,
}

/// rmanager's ends of the pipes asked for with [`Stdio::Piped`].
#[derive(Debug, Default)]
pub struct Pipes {
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

/// What the child needs, prepared in the parent: raw pointers into the vectors below.
struct Setup {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The paths to try, in order, as execvp would.
    candidates: Vec<CString>,
    current_dir: Option<CString>,
    /// Descriptors to put at 0, 1 and 2 (-1: leave as it is).
    stdio: [RawFd; 3],
    new_group: bool,
    parent: libc::pid_t,
    /// The `cgroup.procs` the child writes itself into, when it could not be born inside.
    join: Option<libc::c_int>,
    record: Option<Record>,
    /// Set by the child to the errno of the step that failed.
    error: AtomicI32,
}

/// Starts `command`. Must run on a thread that lives as long as rmanager, with every signal
/// blocked: PR_SET_PDEATHSIG follows the thread that cloned, and no signal handler may run
/// in a child that shares rmanager's memory.
pub(super) fn spawn(command: &Command, stack: &mut [u8]) -> io::Result<Spawned> {
    let mut strings = Strings::default();
    let env = environment(command);
    let argv = std::iter::once(&command.program)
        .chain(&command.args)
        .map(|arg| strings.add(arg.as_os_str()))
        .collect::<io::Result<Vec<_>>>()?;
    let envp = env
        .iter()
        .map(|(key, value)| {
            let mut entry = key.clone();
            entry.push("=");
            entry.push(value);
            strings.add(&entry)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let path = env.iter().find(|(key, _)| key == "PATH").map(|(_, v)| v);
    let candidates = candidates(&command.program, path)?;
    let current_dir = match &command.current_dir {
        Some(dir) => Some(cstring(dir.as_os_str())?),
        None => None,
    };
    let (mut ours, mut theirs): (Vec<Option<File>>, Vec<OwnedFd>) = (Vec::new(), Vec::new());
    let mut stdio = [-1; 3];
    for (stream, wanted) in command.stdio.iter().enumerate() {
        let (mine, child) = match wanted {
            Stdio::Inherit => (None, None),
            Stdio::Null => {
                let null = File::options().read(true).write(true).open("/dev/null")?;
                (None, Some(above_stdio(null.into())?))
            }
            Stdio::Piped => {
                let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                let (mine, child) = if stream == 0 {
                    (write, read)
                } else {
                    (read, write)
                };
                (Some(File::from(mine)), Some(above_stdio(child)?))
            }
            Stdio::Fd(fd) => (None, Some(above_stdio(fd.try_clone()?)?)),
        };
        if let Some(child) = child {
            stdio[stream] = child.as_raw_fd();
            theirs.push(child);
        }
        ours.push(mine);
    }
    let mut setup = Setup {
        argv: strings.pointers(argv),
        envp: strings.pointers(envp),
        candidates,
        current_dir,
        stdio,
        new_group: command.new_group,
        parent: std::process::id() as libc::pid_t,
        join: None,
        record: command.record,
        error: AtomicI32::new(0),
    };
    let mut pidfd: libc::c_int = -1;
    let pid = match command.cgroup {
        None => clone(&setup, stack, &mut pidfd),
        Some(cgroup) => match clone_into(&setup, stack, cgroup.dir, &mut pidfd) {
            // Where clone3 is hidden (ENOSYS, or EPERM from some seccomp profiles), the
            // child moves itself in.
            Err(errno @ (libc::ENOSYS | libc::EPERM)) => {
                if !CLONE3_HIDDEN.swap(true, Ordering::Relaxed) {
                    log::info!(
                        "clone3: {}; each child moves itself into the cgroup (slower)",
                        io::Error::from_raw_os_error(errno)
                    );
                }
                setup.join = Some(cgroup.procs);
                clone(&setup, stack, &mut pidfd)
            }
            born => born,
        },
    }
    .map_err(io::Error::from_raw_os_error)?;
    // SAFETY: CLONE_PIDFD wrote a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(theirs);
    match setup.error.load(Ordering::Acquire) {
        0 => {
            let [_, stdout, stderr]: [Option<File>; 3] = ours
                .try_into()
                .unwrap_or_else(|_| unreachable!("three streams"));
            Ok(Spawned {
                pid: pid as u32,
                pidfd,
                pipes: Pipes { stdout, stderr },
            })
        }
        errno => {
            // It has exited (CLONE_VFORK returned without an exec): reap it now.
            let _ = super::linux::reap(&pidfd);
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// The top of `stack`, aligned to 16 bytes as the ABI wants of a stack pointer.
fn stack_top(stack: &mut [u8]) -> *mut u8 {
    let top = stack.as_mut_ptr_range().end;
    top.wrapping_sub(top as usize % 16)
}

/// clone3 failed as where it is hidden: from then on, children move themselves in.
static CLONE3_HIDDEN: AtomicBool = AtomicBool::new(false);

/// The flag of clone3 that starts the child in the cgroup whose directory is open at
/// `clone_args.cgroup` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clones `child` with `setup` on `stack`: the pid, or the errno.
fn clone(setup: &Setup, stack: &mut [u8], pidfd: &mut libc::c_int) -> Result<i32, libc::c_int> {
    // SAFETY: `child` makes only system calls and touches only `setup`, which outlives the
    // clone: CLONE_VFORK suspends this thread until the child has exec'd or exited.
    let pid = unsafe {
        libc::clone(
            child,
            stack_top(stack).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            ptr::from_ref(setup).cast_mut().cast(),
            ptr::from_mut(pidfd),
        )
    };
    match pid {
        -1 => Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)),
        pid => Ok(pid),
    }
}

/// Clones as [`clone`] does, the child born in the cgroup open at `cgroup`; ENOSYS where
/// clone3 is hidden, or not implemented here.
#[cfg(target_arch = "x86_64")]
fn clone_into(
    setup: &Setup,
    stack: &mut [u8],
    cgroup: RawFd,
    pidfd: &mut libc::c_int,
) -> Result<i32, libc::c_int> {
    if CLONE3_HIDDEN.load(Ordering::Relaxed) {
        return Err(libc::ENOSYS);
    }
    let base = stack.as_mut_ptr();
    let top = stack_top(stack);
    // SAFETY: plain integers; zero is "not used" for every other field.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags =
        (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64 | CLONE_INTO_CGROUP;
    args.pidfd = ptr::from_mut(pidfd) as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    args.stack = base as u64;
    args.stack_size = top as u64 - base as u64;
    args.cgroup = cgroup as u64;
    // SAFETY: as for [`clone`]: the child runs `child` on `stack` and touches only `setup`,
    // which outlives it (CLONE_VFORK).
    let pid = unsafe {
        rmanager_clone3(
            &mut args,
            std::mem::size_of::<libc::clone_args>(),
            child,
            ptr::from_ref(setup).cast_mut().cast(),
        )
    };
    match pid {
        ..0 => Err(-pid as libc::c_int),
        pid => Ok(pid as i32),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn clone_into(_: &Setup, _: &mut [u8], _: RawFd, _: &mut libc::c_int) -> Result<i32, libc::c_int> {
    Err(libc::ENOSYS)
}

// clone3 has no wrapper in libc: as glibc's clone does for clone, it runs `f(arg)` in the
// child, on the stack the arguments give (the kernel switches to it), and exits with what
// `f` returns. The child's registers are the parent's but for rax, rcx and r11, so f and
// arg are kept in r8 and r9.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".globl rmanager_clone3",
    ".hidden rmanager_clone3",
    ".type rmanager_clone3, @function",
    "rmanager_clone3:",
    "mov r8, rdx",
    "mov r9, rcx",
    "mov eax, 435", // SYS_clone3
    "syscall",
    "test rax, rax",
    "jz 2f",
    "ret",
    "2:",
    "xor ebp, ebp",
    "mov rdi, r9",
    "call r8",
    "mov edi, eax",
    "mov eax, 60", // SYS_exit
    "syscall",
    "ud2",
    ".size rmanager_clone3, . - rmanager_clone3",
);

#[cfg(target_arch = "x86_64")]
unsafe extern "C" {
    /// Returns the child's pid in the parent, or -errno.
    fn rmanager_clone3(
        args: *mut libc::clone_args,
        size: usize,
        f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_long;
}

/// The child, between clone and exec: system calls only, on its own stack.
extern "C" fn child(setup: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `spawn` passes its Setup, alive until this child execs or exits.
    let setup = unsafe { &*(setup as *const Setup) };
    let fail = |errno: libc::c_int| -> ! {
        setup.error.store(errno.max(1), Ordering::Release);
        // SAFETY: ends the child without running anything of the parent's.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: errno is this thread's, readable at any time.
    let errno = || unsafe { *libc::__errno_location() };
    // SAFETY: each call below is a system call on descriptors, strings and pointer arrays
    // prepared by `spawn`; none allocates or takes a lock.
    unsafe {
        // A handler of rmanager's must not run in here, and exec resets the rest. SIGPIPE
        // is ignored by Rust programs; their children expect the default, as std does.
        for signal in 1..=libc::SIGRTMAX() {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut old) == 0
                && (old.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE)
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, ptr::null_mut());
            }
        }
        if setup.new_group && libc::setpgid(0, 0) != 0 {
            fail(errno());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            fail(errno());
        }
        // rmanager may have died before the line above: then nothing would kill us.
        if libc::getppid() != setup.parent {
            fail(libc::ESRCH);
        }
        // Before anything else runs in here, so that nothing the child starts is outside.
        if let Some(procs) = setup.join {
            if libc::write(procs, b"0".as_ptr().cast(), 1) != 1 {
                fail(errno());
            }
        }
        if let Some(record) = &setup.record {
            if let Err(e) = record.announce() {
                fail(e);
            }
        }
        for (target, &fd) in setup.stdio.iter().enumerate() {
            // Every fd is above 2 (see `above_stdio`), so none is overwritten before use.
            if fd >= 0 && libc::dup2(fd, target as libc::c_int) < 0 {
                fail(errno());
            }
        }
        if let Some(dir) = &setup.current_dir {
            if libc::chdir(dir.as_ptr()) != 0 {
                fail(errno());
            }
        }
        let mut unblocked: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblocked);
        libc::pthread_sigmask(libc::SIG_SETMASK, &unblocked, ptr::null_mut());
        // As execvp does: a directory without the program, or one we may not search, is
        // skipped; a program found but not executable is EACCES unless another one runs.
        let mut denied = false;
        let mut last = libc::ENOENT;
        for candidate in &setup.candidates {
            libc::execve(candidate.as_ptr(), setup.argv.as_ptr(), setup.envp.as_ptr());
            last = errno();
            match last {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => break,
            }
        }
        fail(if denied && last != libc::ENOEXEC {
            libc::EACCES
        } else {
            last
        })
    }
}

/// The child's environment: rmanager's (unless cleared) with the command's changes.
fn environment(command: &Command) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = if command.env_clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for (key, value) in &command.env {
        env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            env.push((key.clone(), value.clone()));
        }
    }
    env
}

/// Where execvp would look for `program`, given the child's PATH.
fn candidates(program: &OsStr, path: Option<&OsString>) -> io::Result<Vec<CString>> {
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![cstring(program)?]);
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], |p| p.as_bytes());
    path.split(|&b| b == b':')
        .map(|dir| {
            // An empty entry is the working directory.
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut full = dir.to_vec();
            full.push(b'/');
            full.extend_from_slice(program.as_bytes());
            cstring(&OsString::from_vec(full))
        })
        .collect()
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", s.to_string_lossy()),
        )
    })
}

/// Moves `fd` above 0, 1 and 2 (it is there unless rmanager was started with one of those
/// closed), so that putting one stream in place never overwrites another one's source.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// NUL-terminated strings kept alive for the child, and the argv/envp arrays pointing at
/// them.
#[derive(Default)]
struct Strings(Vec<CString>);

impl Strings {
    fn add(&mut self, s: &OsStr) -> io::Result<usize> {
        self.0.push(cstring(s)?);
        Ok(self.0.len() - 1)
    }

    /// A NULL-terminated array of pointers to the strings at `indices`. The strings' heap
    /// buffers do not move when `self.0` grows, so the pointers stay valid.
    fn pointers(&self, indices: Vec<usize>) -> Vec<*const libc::c_char> {
        indices
            .into_iter()
            .map(|i| self.0[i].as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect()
    }
}
