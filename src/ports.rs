//! The port broker: the TCP ports a file asks for by name, each held by rmanager from the
//! moment it is chosen until just before the first process that names it starts, so that
//! nothing else on the machine (another rmanager included) can take it in between.
//!
//! A port is held by a socket bound to 127.0.0.1 that never listens. A free port is chosen
//! by the kernel for a bind without SO_REUSEADDR, which no other socket shares; the option
//! is set only afterwards, so that a server which binds with SO_REUSEADDR (nearly all do)
//! may take the port even while it is still held. The kernel hands a held port to no other
//! bind, ours or anyone's.
//!
//! A port is let go before its process binds it, and in that moment the kernel may hand
//! it to another rmanager's free-port bind. So concurrent rmanagers (of any user) also
//! claim each port they give out in a registry of lock files, one per port, held as long
//! as the environment lives: a free port claimed by another rmanager is passed over. A
//! lock ends with the process that holds it, however it ends.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use indexmap::IndexMap;
use rustix::net::{AddressFamily, SocketType, sockopt};

/// How ports are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// For a run: free ports are chosen and held; a fixed port must be free.
    Hold,
    /// For `--validate` and `--print-config`: free ports are chosen as a run would, then let
    /// go; fixed ports are not tried.
    Show,
}

/// The ports of one environment.
pub struct Ports {
    values: IndexMap<String, u16>,
    held: Mutex<HashMap<String, OwnedFd>>,
    /// This environment's claims in the registry.
    _claims: Vec<File>,
}

/// A port that could not be had.
#[derive(Debug)]
pub struct PortError {
    pub name: String,
    pub port: u16,
    pub reason: PortProblem,
}

#[derive(Debug)]
pub enum PortProblem {
    /// A fixed port something listens on: what, when /proc tells.
    InUse {
        holder: Option<String>,
    },
    Io(io::Error),
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let PortError { name, port, reason } = self;
        match reason {
            PortProblem::InUse {
                holder: Some(holder),
            } => {
                write!(f, "port {port} ({name}) is in use by {holder}")
            }
            PortProblem::InUse { holder: None } => write!(f, "port {port} ({name}) is in use"),
            PortProblem::Io(e) if *port == 0 => write!(f, "cannot get a free port for {name}: {e}"),
            PortProblem::Io(e) => write!(f, "cannot hold port {port} ({name}): {e}"),
        }
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            PortProblem::Io(e) => Some(e),
            PortProblem::InUse { .. } => None,
        }
    }
}

impl Ports {
    /// No ports.
    pub fn none() -> Ports {
        Ports {
            values: IndexMap::new(),
            held: Mutex::new(HashMap::new()),
            _claims: Vec::new(),
        }
    }

    /// Chooses the `requested` ports (0: a free one) and, for a run, holds them.
    pub fn allocate(
        requested: &IndexMap<String, u16>,
        allocation: Allocation,
    ) -> Result<Ports, PortError> {
        let mut values = IndexMap::new();
        let mut held = HashMap::new();
        let mut claims = Vec::new();
        // Shown ports stay bound until all are chosen, so that none is chosen twice.
        let mut shown = Vec::new();
        let registry = match allocation {
            Allocation::Hold if !requested.is_empty() => Registry::open(),
            _ => None,
        };
        for (name, &port) in requested {
            let failed = |reason| PortError {
                name: name.clone(),
                port,
                reason,
            };
            if port != 0 && allocation == Allocation::Show {
                values.insert(name.clone(), port);
                continue;
            }
            let in_use = |holder| failed(PortProblem::InUse { holder });
            // Ports claimed by another rmanager stay bound here until one is not, so that
            // the kernel offers others.
            let mut passed_over = Vec::new();
            let (socket, given) = loop {
                let (socket, given) = hold(port).map_err(|e| match e.kind() {
                    io::ErrorKind::AddrInUse => in_use(listener_of(port)),
                    _ => failed(PortProblem::Io(e)),
                })?;
                match registry.as_ref().map(|r| r.claim(given)) {
                    Some(Claim::Ours(claim)) => claims.push(claim),
                    Some(Claim::Theirs) if port != 0 => {
                        return Err(in_use(Some("another rmanager".to_owned())));
                    }
                    Some(Claim::Theirs) if passed_over.len() < 1000 => {
                        passed_over.push(socket);
                        continue;
                    }
                    // Without a registry, or a full one: as far as the kernel goes.
                    Some(Claim::Theirs | Claim::Unavailable) | None => {}
                }
                break (socket, given);
            };
            values.insert(name.clone(), given);
            match allocation {
                Allocation::Hold => drop(held.insert(name.clone(), socket)),
                Allocation::Show => shown.push(socket),
            }
        }
        Ok(Ports {
            values,
            held: Mutex::new(held),
            _claims: claims,
        })
    }

    /// Each port by name, in file order.
    pub fn values(&self) -> &IndexMap<String, u16> {
        &self.values
    }

    pub fn get(&self, name: &str) -> Option<u16> {
        self.values.get(name).copied()
    }

    /// Lets go of the ports named (those still held), for a process about to bind them.
    pub fn release<'n>(&self, names: impl IntoIterator<Item = &'n String>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for name in names {
            held.remove(name);
        }
    }
}

impl fmt::Debug for Ports {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.values.fmt(f)
    }
}

impl PartialEq for Ports {
    fn eq(&self, other: &Ports) -> bool {
        self.values == other.values
    }
}

/// The machine's registry of ports given out by rmanagers: a lock file per port.
struct Registry {
    dir: PathBuf,
}

enum Claim {
    /// Claimed now; the claim lasts as long as the file stays open.
    Ours(File),
    /// Another rmanager's, alive.
    Theirs,
    /// The registry cannot tell.
    Unavailable,
}

impl Registry {
    /// The registry in the temporary directory, shared by every user (sticky, as /tmp).
    fn open() -> Option<Registry> {
        let dir = std::env::temp_dir().join("rmanager-ports");
        if std::fs::create_dir(&dir).is_ok() {
            let everyone = std::fs::Permissions::from_mode(0o1777);
            let _ = std::fs::set_permissions(&dir, everyone);
        }
        match dir.is_dir() {
            true => Some(Registry { dir }),
            false => {
                log::warn!(
                    "no port registry at {}: ports are held by the kernel only",
                    dir.display()
                );
                None
            }
        }
    }

    fn claim(&self, port: u16) -> Claim {
        let path = self.dir.join(port.to_string());
        // Read-only is enough to lock, and works on another user's file.
        let file = File::open(&path).or_else(|_| {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            // Readable by every user whatever the umask, or theirs could not lock it.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            Ok::<File, io::Error>(file)
        });
        let Ok(file) = file else {
            return Claim::Unavailable;
        };
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Claim::Ours(file),
            Err(rustix::io::Errno::WOULDBLOCK) => Claim::Theirs,
            Err(_) => Claim::Unavailable,
        }
    }
}

/// A socket bound to 127.0.0.1:`port` (0: a port the kernel chooses), and its port.
fn hold(port: u16) -> io::Result<(OwnedFd, u16)> {
    let socket = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // A fixed port may have connections in TIME_WAIT, which only a listener would mind.
    if port != 0 {
        sockopt::set_socket_reuseaddr(&socket, true)?;
    }
    rustix::net::bind(&socket, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    let given = SocketAddrV4::try_from(rustix::net::getsockname(&socket)?)
        .map_err(|_| io::Error::other("not an IPv4 address"))?
        .port();
    sockopt::set_socket_reuseaddr(&socket, true)?;
    Ok((socket, given))
}

/// What listens on TCP `port`, as `name (pid N)`, when /proc tells.
fn listener_of(port: u16) -> Option<String> {
    holder_of(&listening_sockets(port))
}

/// The inodes of the sockets that listen on TCP `port` (any address, IPv4 or IPv6), from
/// /proc/net.
pub(crate) fn listening_sockets(port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1)?.rsplit(':').next()?;
                    let listening = *fields.get(3)? == LISTEN;
                    let matches = u16::from_str_radix(local_port, 16).ok()? == port;
                    (listening && matches).then(|| fields.get(9)?.parse().ok())?
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The process that holds one of `sockets`, as `name (pid N)`.
pub(crate) fn holder_of(sockets: &[u64]) -> Option<String> {
    let names: Vec<String> = sockets.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path());
            if target.is_ok_and(|target| names.iter().any(|n| target.as_os_str() == n.as_str())) {
                let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", name.trim_end()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn request(ports: &[(&str, u16)]) -> IndexMap<String, u16> {
        ports.iter().map(|(n, p)| (n.to_string(), *p)).collect()
    }

    #[test]
    fn free_ports_are_held_and_can_still_be_bound_with_reuseaddr() {
        let ports = Ports::allocate(&request(&[("A", 0), ("B", 0)]), Allocation::Hold).unwrap();
        let (a, b) = (ports.get("A").unwrap(), ports.get("B").unwrap());
        assert!(a != 0 && b != 0 && a != b);
        // Held: a plain bind (std's listener sets SO_REUSEADDR, so a raw socket is used).
        assert_eq!(hold_plain(a).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // A server that sets SO_REUSEADDR binds and listens meanwhile.
        let server = TcpListener::bind(("127.0.0.1", a)).expect("a reuseaddr bind");
        drop(server);
        ports.release([&"A".to_owned()]);
        hold_plain(a).expect("free once released");
    }

    #[test]
    fn a_fixed_port_something_listens_on_is_named_with_its_holder() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let error =
            Ports::allocate(&request(&[("DB_PORT", port)]), Allocation::Hold).expect_err("in use");
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("port {port} (DB_PORT) is in use by ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        // Shown, not tried.
        let shown = Ports::allocate(&request(&[("DB_PORT", port)]), Allocation::Show).unwrap();
        assert_eq!(shown.get("DB_PORT"), Some(port));
    }

    #[test]
    fn a_port_another_rmanager_claimed_is_not_given_out() {
        let registry = Registry::open().expect("a registry in the temporary directory");
        let (socket, port) = hold(0).unwrap();
        drop(socket);
        // Claimed, as another environment holds it between its release and its bind.
        let Claim::Ours(claim) = registry.claim(port) else {
            panic!("a free claim");
        };
        assert!(matches!(registry.claim(port), Claim::Theirs));
        let error =
            Ports::allocate(&request(&[("FIXED", port)]), Allocation::Hold).expect_err("claimed");
        assert_eq!(
            error.to_string(),
            format!("port {port} (FIXED) is in use by another rmanager")
        );
        drop(claim);
        let ports = Ports::allocate(&request(&[("FIXED", port)]), Allocation::Hold).unwrap();
        assert_eq!(ports.get("FIXED"), Some(port));
    }

    fn hold_plain(port: u16) -> io::Result<OwnedFd> {
        let socket = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
        rustix::net::bind(&socket, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
        Ok(socket)
    }
}
