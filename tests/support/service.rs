//! test-service: the child process the integration tests (and the benchmark) run under
//! rmanager, so they measure rmanager, not some other program.
//!
//! Options, all optional:
//!   --listen ADDR       serve HTTP on ADDR (127.0.0.1:PORT, [::1]:PORT)
//!   --delay-ms N        wait N ms before listening
//!   --status N          answer every request with status N (default 200)
//!   --require LINE      answer 401 to requests without this exact header line
//!   --silent            accept connections but never answer
//!   --header LINE       add this header line (any bytes) to every answer
//!   --redirect-to PATH  answer a request for any other path with 302 to PATH
//!   --requests FILE     append the path of every request to FILE, a line each
//!   --ignore-term       ignore SIGTERM
//!   --grandchild        start `sleep 600` in the same process group
//!   --print-bytes N     write N bytes to stdout, then N to stderr
//!   --exit-after-ms N   exit after N ms (with --code, default 0)
//!   --code N
//!   --stamp-listen FILE write the time (ns since the epoch) listening began to FILE
//!   --stamp-exit FILE   write the time of the --exit-after-ms exit to FILE, just before it
//!   --log FILE          append `start` to FILE before listening, and `stop` on SIGTERM
//!                       (then exit 0), or `term` with --ignore-term
//! It prints `pid P` (and `grandchild G`) on stdout first, one line each.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    let mut delay = 0;
    let mut ignore_term = false;
    let mut grandchild = false;
    let mut print_bytes = 0usize;
    let mut exit_after = None;
    let mut code = 0;
    let mut log = None;
    let mut stamp_listen = None;
    let mut stamp_exit = None;
    let mut answer = Answer {
        status: 200,
        require: None,
        silent: false,
        header: None,
        redirect_to: None,
        requests: None,
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--listen" => listen = Some(value()),
            "--delay-ms" => delay = number(&value()),
            "--status" => answer.status = number(&value()),
            "--require" => answer.require = Some(value()),
            "--silent" => answer.silent = true,
            "--header" => answer.header = Some(value()),
            "--redirect-to" => answer.redirect_to = Some(value()),
            "--requests" => answer.requests = Some(value()),
            "--ignore-term" => ignore_term = true,
            "--grandchild" => grandchild = true,
            "--print-bytes" => print_bytes = number(&value()),
            "--exit-after-ms" => exit_after = Some(number(&value())),
            "--code" => code = number(&value()),
            "--log" => log = Some(value()),
            "--stamp-listen" => stamp_listen = Some(value()),
            "--stamp-exit" => stamp_exit = Some(value()),
            _ => fail(&format!("unknown option {arg}")),
        }
    }

    if let Some(path) = log {
        log_start_and_stop(&path, ignore_term);
    } else if ignore_term {
        // SAFETY: setting a signal disposition to SIG_IGN runs no code of ours.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "pid {}", std::process::id()).unwrap();
    if grandchild {
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start sleep: {e}")));
        writeln!(out, "grandchild {}", child.id()).unwrap();
        std::thread::spawn(move || child.wait());
    }
    out.flush().unwrap();
    drop(out);
    if print_bytes > 0 {
        let chunk = vec![b'x'; 64 * 1024];
        for stream in [
            &mut std::io::stdout() as &mut dyn Write,
            &mut std::io::stderr(),
        ] {
            let mut left = print_bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                stream.write_all(&chunk[..n]).unwrap();
                left -= n;
            }
            stream.flush().unwrap();
        }
    }
    if let Some(ms) = exit_after {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            if let Some(path) = stamp_exit {
                stamp(&path);
            }
            std::process::exit(code);
        });
    }
    std::thread::sleep(Duration::from_millis(delay));
    match listen {
        Some(address) => serve(&address, answer, stamp_listen),
        None => loop {
            std::thread::park();
        },
    }
}

/// How the service answers requests.
#[derive(Clone)]
struct Answer {
    status: u16,
    header: Option<String>,
    require: Option<String>,
    silent: bool,
    redirect_to: Option<String>,
    requests: Option<String>,
}

fn serve(address: &str, answer: Answer, stamp_listen: Option<String>) -> ! {
    let listener = TcpListener::bind(address)
        .unwrap_or_else(|e| fail(&format!("cannot listen on {address}: {e}")));
    if let Some(path) = stamp_listen {
        stamp(&path);
    }
    for stream in listener.incoming().flatten() {
        let answer = answer.clone();
        std::thread::spawn(move || {
            if answer.silent {
                // Hold the connection open, unanswered, until the client gives up.
                let _ = std::io::copy(&mut &stream, &mut std::io::sink());
                return;
            }
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let mut authorized = answer.require.is_none();
            let _ = reader.read_line(&mut line);
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            if let Some(requests) = &answer.requests {
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(requests);
                let _ = file.as_mut().map(|f| writeln!(f, "{path}"));
            }
            line.clear();
            // Read the rest of the request head, then answer and close.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let header = line.trim_end();
                if header.is_empty() {
                    break;
                }
                authorized |= answer
                    .require
                    .as_deref()
                    .is_some_and(|r| same_header(r, header));
                line.clear();
            }
            let mut status = if authorized { answer.status } else { 401 };
            let mut headers: String = answer.header.iter().map(|h| format!("{h}\r\n")).collect();
            if let Some(to) = answer.redirect_to.as_ref().filter(|to| **to != path) {
                status = 302;
                headers.push_str(&format!("Location: {to}\r\n"));
            }
            let _ = (&stream).write_all(
                format!("HTTP/1.0 {status} X\r\n{headers}Content-Length: 3\r\n\r\nok\n").as_bytes(),
            );
        });
    }
    unreachable!("incoming() never ends")
}

/// Writes the time now, in ns since the epoch, to `path`.
fn stamp(path: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let _ = std::fs::write(path, now.to_string());
}

/// Header names compare without case, values exactly.
fn same_header(a: &str, b: &str) -> bool {
    match (a.split_once(':'), b.split_once(':')) {
        (Some((a_name, a_value)), Some((b_name, b_value))) => {
            a_name.eq_ignore_ascii_case(b_name) && a_value.trim() == b_value.trim()
        }
        _ => false,
    }
}

/// The log file's descriptor, for the SIGTERM handler.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);

/// With --ignore-term: log `term` and carry on.
static IGNORE_TERM: AtomicBool = AtomicBool::new(false);

fn log_start_and_stop(path: &str, ignore_term: bool) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap_or_else(|e| fail(&format!("cannot open {path}: {e}")));
    file.write_all(b"start\n").unwrap();
    LOG_FD.store(file.into_raw_fd(), Ordering::SeqCst);
    IGNORE_TERM.store(ignore_term, Ordering::SeqCst);
    extern "C" fn on_term(_: libc::c_int) {
        // SAFETY: write and _exit are async-signal-safe.
        unsafe {
            let fd = LOG_FD.load(Ordering::SeqCst);
            if IGNORE_TERM.load(Ordering::SeqCst) {
                libc::write(fd, b"term\n".as_ptr().cast(), 5);
            } else {
                libc::write(fd, b"stop\n".as_ptr().cast(), 5);
                libc::_exit(0);
            }
        }
    }
    // SAFETY: installs a handler that calls only async-signal-safe functions.
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| fail(&format!("not a number: {text}")))
}

fn fail(message: &str) -> ! {
    eprintln!("test-service: {message}");
    std::process::exit(64)
}
