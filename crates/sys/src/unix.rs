//! Unix datagram sockets: the control socket (both ends) and sd_notify.
//!
//! Owns creating Unix datagram sockets with a plain `SOCK_DGRAM` type and `fcntl`
//! flags, binding them to a path (mode 0666 through the umask, never chmod by path
//! afterwards) or to an abstract-namespace name, connecting, SO_PASSCRED and reading
//! SCM_CREDENTIALS with `recvmsg` (one iovec), and non-blocking sends. Everything goes
//! through glibc so clknetsim can intercept it: there Unix sockets exist only under
//! `/clknetsim/unix/NODE:PORT` paths, setsockopt on them fails (so no credentials)
//! and no control message arrives. Who may do what over them is the control server's
//! business.

use super::fd::Fd;
use super::socket::new_socket;
use super::{check, check_size, recv_one};
use std::ffi::OsStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The address of a Unix socket as the kernel gives and takes it: a path, an
/// abstract-namespace name (first byte 0), or unnamed (an unbound sender).
#[derive(Clone, Copy)]
pub struct UnixAddress {
    address: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl UnixAddress {
    /// The address of the socket file at `path`.
    pub fn path(path: &Path) -> io::Result<UnixAddress> {
        UnixAddress::with_name(path.as_os_str().as_bytes(), false)
    }

    /// The abstract-namespace address `name` (Linux; no file, gone when closed).
    pub fn abstract_name(name: &[u8]) -> io::Result<UnixAddress> {
        UnixAddress::with_name(name, true)
    }

    fn with_name(name: &[u8], is_abstract: bool) -> io::Result<UnixAddress> {
        // SAFETY: an all-zero sockaddr_un is a valid value.
        let mut address: libc::sockaddr_un = unsafe { zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let offset = usize::from(is_abstract);
        // A path keeps a terminating NUL; an abstract name is exactly its bytes.
        if name.is_empty()
            || offset + name.len() + usize::from(!is_abstract) > address.sun_path.len()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Unix socket address empty or too long: {}",
                    OsStr::from_bytes(name).to_string_lossy()
                ),
            ));
        }
        for (slot, byte) in address.sun_path[offset..].iter_mut().zip(name) {
            *slot = *byte as libc::c_char;
        }
        let len = size_of::<libc::sa_family_t>() + offset + name.len() + usize::from(!is_abstract);
        Ok(UnixAddress {
            address,
            len: len as libc::socklen_t,
        })
    }

    /// An unbound sender has no address to reply to.
    pub fn is_unnamed(&self) -> bool {
        (self.len as usize) <= size_of::<libc::sa_family_t>()
    }

    fn name_bytes(&self) -> Vec<u8> {
        let count = (self.len as usize)
            .saturating_sub(size_of::<libc::sa_family_t>())
            .min(self.address.sun_path.len());
        let mut bytes: Vec<u8> = self.address.sun_path[..count]
            .iter()
            .map(|&c| c as u8)
            .collect();
        if bytes.first() != Some(&0) {
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
        }
        bytes
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        &self.address as *const libc::sockaddr_un as *const libc::sockaddr
    }
}

impl std::fmt::Display for UnixAddress {
    /// A path as is, an abstract name as `@name`, an unbound sender as `(unnamed)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.name_bytes();
        match bytes.split_first() {
            None => f.write_str("(unnamed)"),
            Some((0, name)) => write!(f, "@{}", String::from_utf8_lossy(name)),
            Some(_) => f.write_str(&String::from_utf8_lossy(&bytes)),
        }
    }
}

impl std::fmt::Debug for UnixAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnixAddress({self})")
    }
}

/// One received datagram.
#[derive(Clone, Copy, Debug)]
pub struct UnixReceived {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (the rest is lost).
    pub truncated: bool,
    /// Who sent it, to reply to.
    pub from: UnixAddress,
    /// The sender's uid from SCM_CREDENTIALS, when the socket passes credentials and
    /// the kernel attached them (never under clknetsim).
    pub uid: Option<u32>,
}

/// A non-blocking Unix datagram socket.
#[derive(Debug)]
pub struct UnixDatagram {
    fd: Fd,
}

impl UnixDatagram {
    /// A socket bound to the file `path`, which must not exist (the caller removes a
    /// stale one). The file is created with mode 0666: the umask is set to 0111 for
    /// the bind (a socket's inode starts at 0777), so nothing is changed by path later.
    pub fn bind_path(path: &Path) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        let address = UnixAddress::path(path)?;
        // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
        let previous = unsafe { libc::umask(0o111) };
        // SAFETY: address is a valid sockaddr_un of the stated length.
        let result = check(unsafe { libc::bind(socket.fd.raw(), address.as_ptr(), address.len) });
        // SAFETY: as above, restoring the mask.
        unsafe { libc::umask(previous) };
        result?;
        Ok(socket)
    }

    /// A socket bound to the abstract-namespace name `name` (the CLI's side: an
    /// explicit name, not autobind, whose empty address clknetsim cannot take).
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        let address = UnixAddress::abstract_name(name)?;
        // SAFETY: address is a valid sockaddr_un of the stated length.
        check(unsafe { libc::bind(socket.fd.raw(), address.as_ptr(), address.len) })?;
        Ok(socket)
    }

    /// A socket with no address (it can send, but nobody can reply).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: new_socket(libc::AF_UNIX, libc::SOCK_DGRAM)?,
        })
    }

    /// Send to and receive from the socket at `path` only.
    pub fn connect(&self, path: &Path) -> io::Result<()> {
        let address = UnixAddress::path(path)?;
        // SAFETY: address is a valid sockaddr_un of the stated length.
        check(unsafe { libc::connect(self.fd.raw(), address.as_ptr(), address.len) })?;
        Ok(())
    }

    /// SO_PASSCRED: the kernel attaches each sender's pid/uid/gid to what we receive.
    pub fn pass_credentials(&self) -> io::Result<()> {
        super::socket::set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_PASSCRED, 1)
    }

    /// Ask for a send buffer of `bytes`: SO_SNDBUFFORCE (root, past
    /// net.core.wmem_max), else SO_SNDBUF (capped at wmem_max). On a Unix datagram
    /// socket this bounds the replies sitting unread in all receivers' queues.
    pub fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        let bytes = bytes.min(i32::MAX as usize / 2) as libc::c_int;
        super::socket::set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, bytes)
            .or_else(|_| {
                super::socket::set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)
            })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    /// Receive one datagram (WouldBlock when none waits).
    pub fn receive(&self, buffer: &mut [u8]) -> io::Result<UnixReceived> {
        // SAFETY: an all-zero sockaddr_un is a valid value.
        let mut from: libc::sockaddr_un = unsafe { zeroed() };
        // Room for one SCM_CREDENTIALS message (CMSG_SPACE(12) = 32 on 64-bit).
        let mut control = [0u64; 8];
        let (len, message) = recv_one(self.fd.raw(), buffer, &mut from, &mut control, 0)?;
        let uid = credentials_uid(&message);
        Ok(UnixReceived {
            len: len.min(buffer.len()),
            truncated: message.msg_flags & libc::MSG_TRUNC != 0 || len > buffer.len(),
            from: UnixAddress {
                address: from,
                len: message
                    .msg_namelen
                    .min(size_of::<libc::sockaddr_un>() as libc::socklen_t),
            },
            uid,
        })
    }

    /// Send one datagram to `to` without waiting: a full receive queue at the other
    /// end is `WouldBlock`, a vanished peer an error (never SIGPIPE).
    pub fn send_to(&self, data: &[u8], to: &UnixAddress) -> io::Result<usize> {
        // SAFETY: data and the address are live with their sizes passed.
        check_size(unsafe {
            libc::sendto(
                self.fd.raw(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                to.as_ptr(),
                to.len,
            )
        })
    }

    /// Send one datagram to the connected peer without waiting.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: data is live for data.len() bytes; no address on a connected socket.
        check_size(unsafe {
            libc::sendto(
                self.fd.raw(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                std::ptr::null(),
                0,
            )
        })
    }
}

/// The uid of an SCM_CREDENTIALS control message in `message`, if there is one.
fn credentials_uid(message: &libc::msghdr) -> Option<u32> {
    if message.msg_controllen == 0 {
        return None;
    }
    // SAFETY: message's control buffer is live and msg_controllen says how much the
    // kernel filled; the CMSG macros stay within it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(message) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points at a complete header inside the control buffer.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET
            && header.cmsg_type == libc::SCM_CREDENTIALS
            // SAFETY: CMSG_LEN only computes a size.
            && header.cmsg_len >= unsafe { libc::CMSG_LEN(size_of::<libc::ucred>() as u32) } as usize
        {
            // SAFETY: the header says a whole ucred follows; it may be unaligned.
            let credentials =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::ucred) };
            return Some(credentials.uid);
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(message, cmsg) };
    }
    None
}

/// Send one datagram to a Unix datagram socket at `path` ('@' first: abstract
/// namespace), as sd_notify does. Returns Ok(false) when `path` is empty.
pub fn send_unix_datagram(path: &str, data: &[u8]) -> io::Result<bool> {
    if path.is_empty() {
        return Ok(false);
    }
    let to = match path.strip_prefix('@') {
        Some(name) => UnixAddress::abstract_name(name.as_bytes())?,
        None => UnixAddress::path(Path::new(path))?,
    };
    UnixDatagram::unbound()?.send_to(data, &to)?;
    Ok(true)
}
