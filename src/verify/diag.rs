//! Asking the kernel whether something listens at an address, without connecting: a
//! `sock_diag` lookup on a netlink socket kept open costs a few microseconds and, unlike a
//! connect, nothing on the service's side (no connection to accept, read and close).

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock};

/// A netlink socket for `sock_diag` (what `ss` uses): whether a TCP listener takes
/// connections at an address, looked up in the kernel's table without making a connection.
struct Diag(OwnedFd);

/// One socket for every check, opened at first use; None where the kernel has no
/// `sock_diag` (then a connect decides).
static DIAG: OnceLock<Option<Mutex<Diag>>> = OnceLock::new();

/// Whether a TCP listener takes connections at `address`, when the kernel can tell.
pub fn listening(address: &SocketAddr) -> Option<bool> {
    let diag = DIAG.get_or_init(|| {
        Diag::open()
            .inspect_err(|e| log::debug!("no sock_diag ({e}); checks probe by connecting"))
            .ok()
            .map(Mutex::new)
    });
    let diag = diag.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
    diag.listening(address)
}

/// `SOCK_DIAG_BY_FAMILY`, the request and its answer; `NLMSG_ERROR`, the answer when
/// nothing matches.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const TCP_LISTEN: u32 = 10;

impl Diag {
    fn open() -> std::io::Result<Diag> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
        let socket = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )?;
        Ok(Diag(socket))
    }

    /// Whether a listener takes connections at `address`: an exact lookup (no dump), as
    /// the kernel routes a connection to it, wildcard and dual-stack listeners included.
    /// None when the kernel cannot tell (then a connect decides).
    fn listening(&self, address: &SocketAddr) -> Option<bool> {
        // nlmsghdr (16 bytes), then inet_diag_req_v2 (56 bytes).
        let mut request = [0u8; 72];
        request[0..4].copy_from_slice(&72u32.to_ne_bytes());
        request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        let (family, source): (u8, [u8; 16]) = match address {
            SocketAddr::V4(v4) => {
                let mut source = [0; 16];
                source[..4].copy_from_slice(&v4.ip().octets());
                (libc::AF_INET as u8, source)
            }
            SocketAddr::V6(v6) => (libc::AF_INET6 as u8, v6.ip().octets()),
        };
        request[16] = family;
        request[17] = libc::IPPROTO_TCP as u8;
        request[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        // inet_diag_sockid: sport, dport (big-endian), src, dst, interface, cookie.
        request[24..26].copy_from_slice(&address.port().to_be_bytes());
        request[28..44].copy_from_slice(&source);
        request[64..72].copy_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        rustix::net::send(&self.0, &request, rustix::net::SendFlags::empty()).ok()?;
        let mut answer = [0u8; 512];
        let (n, _) =
            rustix::net::recv(&self.0, &mut answer, rustix::net::RecvFlags::empty()).ok()?;
        if n < 20 {
            return None;
        }
        match u16::from_ne_bytes([answer[4], answer[5]]) {
            SOCK_DIAG_BY_FAMILY => Some(true),
            NLMSG_ERROR => {
                let error = -i32::from_ne_bytes([answer[16], answer[17], answer[18], answer[19]]);
                (error == libc::ENOENT).then_some(false)
            }
            _ => None,
        }
    }
}
