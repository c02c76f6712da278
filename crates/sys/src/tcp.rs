//! TCP through glibc: the listener and connections of the metrics endpoint.
//!
//! Owns the TCP wrappers only; like every socket here they are created with a plain
//! `SOCK_STREAM` type, made non-blocking and close-on-exec with `fcntl` afterwards, and
//! live in the main loop's poll set (DESIGN rule 3). What is said over them is the
//! caller's business (control/metrics_server.rs).

use super::check;
use super::fd::Fd;
use super::socket::{new_socket, set_int_option, to_sockaddr};
use std::io;
use std::net::SocketAddr;

/// Connections the kernel queues for a listener before the loop accepts them: enough
/// that a scrape arriving among hundreds of slow clients is queued, not dropped (a
/// dropped SYN is retried only after a second). The kernel caps it at
/// `net.core.somaxconn` (4096 by default).
pub const LISTEN_BACKLOG: i32 = 1024;

/// A listening TCP socket (the metrics endpoint), non-blocking, in the poll set.
#[derive(Debug)]
pub struct TcpListener {
    fd: Fd,
}

/// An accepted TCP connection, non-blocking.
#[derive(Debug)]
pub struct TcpStream {
    fd: Fd,
}

impl TcpListener {
    /// Bind (with SO_REUSEADDR) and listen at `address`.
    pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
        let family = match address {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let fd = new_socket(family, libc::SOCK_STREAM)?;
        set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        let (storage, len) = to_sockaddr(&address);
        // SAFETY: storage holds a valid sockaddr of length len.
        check(unsafe { libc::bind(fd.raw(), &storage as *const _ as *const libc::sockaddr, len) })?;
        // SAFETY: listen on a bound socket we own.
        check(unsafe { libc::listen(fd.raw(), LISTEN_BACKLOG) })?;
        Ok(TcpListener { fd })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    /// The bound address (port 0 becomes the chosen port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        super::socket::local_address(&self.fd)
    }

    /// Accept one connection (WouldBlock when none waits).
    pub fn accept(&self) -> io::Result<TcpStream> {
        // SAFETY: null address pointers are allowed by accept().
        let raw = check(unsafe {
            libc::accept(self.fd.raw(), std::ptr::null_mut(), std::ptr::null_mut())
        })?;
        let fd = Fd::from_raw(raw);
        fd.set_nonblocking_cloexec()?;
        Ok(TcpStream { fd })
    }
}

impl TcpStream {
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    pub fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.fd.stream_read(buffer)
    }

    pub fn write(&self, data: &[u8]) -> io::Result<usize> {
        self.fd.stream_write(data)
    }
}
