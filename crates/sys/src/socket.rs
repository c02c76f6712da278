//! UDP sockets with kernel timestamps, through glibc (Unix sockets are in `unix`).
//!
//! Sockets are created with a plain type (`SOCK_DGRAM`/`SOCK_STREAM`) and made
//! non-blocking and close-on-exec with `fcntl` afterwards. Receiving is `recvmsg` with
//! one iovec and a control buffer for timestamps. TX timestamps come from the error
//! queue (`MSG_ERRQUEUE`, signalled by POLLPRI) with SOF_TIMESTAMPING_OPT_ID, so each
//! one carries the number of the send it belongs to and no packet data.

use super::fd::Fd;
use super::{check, check_size, recv_one, timespec_to_unix};
use gnomon_proto::UnixTime;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub(super) fn to_sockaddr(address: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match address {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

pub(super) fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The address a socket is bound to (getsockname).
pub(super) fn local_address(fd: &Fd) -> io::Result<SocketAddr> {
    // SAFETY: zeroed sockaddr_storage is valid; getsockname fills at most len bytes.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage and len are live and sized for the call.
    check(unsafe {
        libc::getsockname(
            fd.raw(),
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    })?;
    from_sockaddr(&storage).ok_or_else(|| io::Error::other("unknown address family"))
}

pub(super) fn new_socket(family: libc::c_int, kind: libc::c_int) -> io::Result<Fd> {
    // SAFETY: socket() with constant arguments; the result is checked before use.
    let raw = check(unsafe { libc::socket(family, kind, 0) })?;
    let fd = Fd::from_raw(raw);
    fd.set_nonblocking_cloexec()?;
    Ok(fd)
}

pub(super) fn set_int_option(
    fd: &Fd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: value lives across the call and its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd.raw(),
            level,
            name,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Which kernel timestamps a socket gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampSupport {
    /// Software RX timestamps and TX timestamps from the error queue.
    RxAndTx,
    /// RX timestamps only (SO_TIMESTAMPNS).
    RxOnly,
    /// None: the caller timestamps in user space.
    None,
}

/// A received datagram.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    /// When the kernel received it, if the socket timestamps.
    pub kernel_rx: Option<UnixTime>,
}

/// A transmit timestamp from the error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxTimestamp {
    /// Which send on this socket (0 for the first) it belongs to.
    pub send_index: u32,
    pub time: UnixTime,
}

/// A non-blocking UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    fd: Fd,
    timestamps: TimestampSupport,
}

impl UdpSocket {
    /// A socket bound to `address` (port 0: the kernel picks a random port, RFC 9109).
    pub fn bind(address: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::bind_with(address, false)
    }

    /// Create, set IPV6_V6ONLY for IPv6 (and SO_REUSEPORT if asked, before binding), bind.
    fn bind_with(address: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
        let family = if address.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = new_socket(family, libc::SOCK_DGRAM)?;
        if address.is_ipv6() {
            set_int_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        if reuse_port {
            set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        let (storage, len) = to_sockaddr(&address);
        // SAFETY: storage holds a valid sockaddr of length len.
        check(unsafe { libc::bind(fd.raw(), &storage as *const _ as *const libc::sockaddr, len) })?;
        Ok(UdpSocket {
            fd,
            timestamps: TimestampSupport::None,
        })
    }

    /// A client socket connected to `server`, from a random local port.
    pub fn connect_to(server: SocketAddr) -> io::Result<UdpSocket> {
        let local: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        let (storage, len) = to_sockaddr(&server);
        // SAFETY: storage holds a valid sockaddr of length len.
        check(unsafe {
            libc::connect(
                socket.fd.raw(),
                &storage as *const _ as *const libc::sockaddr,
                len,
            )
        })?;
        Ok(socket)
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    pub fn timestamps(&self) -> TimestampSupport {
        self.timestamps
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_address(&self.fd)
    }

    /// Ask for kernel software timestamps: RX and TX if the kernel allows, else RX only.
    pub fn enable_timestamps(&mut self) -> TimestampSupport {
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE
            | libc::SOF_TIMESTAMPING_TX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_OPT_ID
            | libc::SOF_TIMESTAMPING_OPT_TSONLY;
        self.timestamps = if set_int_option(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as libc::c_int,
        )
        .is_ok()
        {
            // Report waiting TX timestamps as POLLPRI rather than only POLLERR.
            let _ = set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_SELECT_ERR_QUEUE, 1);
            TimestampSupport::RxAndTx
        } else if set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).is_ok() {
            TimestampSupport::RxOnly
        } else {
            TimestampSupport::None
        };
        self.timestamps
    }

    /// Ask for a receive buffer of `bytes` (the kernel caps the request at
    /// net.core.rmem_max and doubles it for its own bookkeeping); returns what the
    /// kernel granted, in its terms (what `ss -m` shows as `rb`).
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<usize> {
        set_int_option(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            bytes.min(i32::MAX as usize) as libc::c_int,
        )?;
        self.receive_buffer()
    }

    /// The receive buffer the kernel allows this socket, in its terms (`ss -m` `rb`).
    pub fn receive_buffer(&self) -> io::Result<usize> {
        let mut granted: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: granted and len live across the call; len is granted's size.
        check(unsafe {
            libc::getsockopt(
                self.fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &mut granted as *mut _ as *mut libc::c_void,
                &mut len,
            )
        })?;
        Ok(granted.max(0) as usize)
    }

    /// Ask for kernel software RX timestamps only (a server socket: TX timestamps
    /// would queue one error-queue entry per reply).
    pub fn enable_rx_timestamps(&mut self) -> TimestampSupport {
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        self.timestamps = if set_int_option(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as libc::c_int,
        )
        .is_ok()
            || set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).is_ok()
        {
            TimestampSupport::RxOnly
        } else {
            TimestampSupport::None
        };
        self.timestamps
    }

    /// Server sockets: kernel RX timestamps on every datagram, and TX timestamps only
    /// for sends that ask with [`UdpSocket::send_to_timestamped`] (numbered with
    /// OPT_ID, reported through the error queue and POLLPRI). Falls back to RX only.
    pub fn enable_server_timestamps(&mut self) -> TimestampSupport {
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_OPT_ID
            | libc::SOF_TIMESTAMPING_OPT_TSONLY;
        if set_int_option(
            &self.fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as libc::c_int,
        )
        .is_ok()
        {
            let _ = set_int_option(&self.fd, libc::SOL_SOCKET, libc::SO_SELECT_ERR_QUEUE, 1);
            self.timestamps = TimestampSupport::RxAndTx;
            self.timestamps
        } else {
            self.enable_rx_timestamps()
        }
    }

    /// Send to `address` asking the kernel for a software TX timestamp of this one
    /// datagram (an SO_TIMESTAMPING control message), on a socket set up with
    /// [`UdpSocket::enable_server_timestamps`].
    pub fn send_to_timestamped(&self, data: &[u8], address: SocketAddr) -> io::Result<usize> {
        let (mut storage, len) = to_sockaddr(&address);
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut control = [0u64; 4];
        let control_len = write_tx_timestamp_request(&mut control);
        if control_len == 0 {
            return self.send_to(data, address);
        }
        // SAFETY: an all-zero msghdr is valid; every field used is set below.
        let mut message: libc::msghdr = unsafe { zeroed() };
        message.msg_name = &mut storage as *mut _ as *mut libc::c_void;
        message.msg_namelen = len;
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        message.msg_controllen = control_len;
        // SAFETY: every pointer in message refers to a live local buffer of the stated size.
        check_size(unsafe { libc::sendmsg(self.fd.raw(), &message, 0) })
    }

    /// A socket bound to `address` with SO_REUSEPORT set first, so several sockets
    /// (one per server worker thread) share the port and the kernel spreads clients.
    pub fn bind_reuse_port(address: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::bind_with(address, true)
    }

    /// Send on a connected socket.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: data is a live buffer of data.len() bytes; no address for a connected socket.
        check_size(unsafe {
            libc::sendto(
                self.fd.raw(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                0,
                std::ptr::null(),
                0,
            )
        })
    }

    /// Send to `address` (an unconnected server socket).
    pub fn send_to(&self, data: &[u8], address: SocketAddr) -> io::Result<usize> {
        let (storage, len) = to_sockaddr(&address);
        // SAFETY: data and storage are live for the call with their sizes passed.
        check_size(unsafe {
            libc::sendto(
                self.fd.raw(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                0,
                &storage as *const _ as *const libc::sockaddr,
                len,
            )
        })
    }

    /// Receive one datagram with its kernel RX timestamp (WouldBlock when none waits).
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<Received> {
        let (len, from, control) = self.recvmsg(buffer, 0)?;
        Ok(Received {
            len,
            from,
            kernel_rx: control.software_time,
        })
    }

    /// Take one TX timestamp from the error queue (WouldBlock when none waits).
    /// Other errors queued there (ICMP) are returned as `Ok(None)`.
    pub fn recv_tx_timestamp(&self) -> io::Result<Option<TxTimestamp>> {
        let mut scratch = [0u8; 64];
        let (_, _, control) = self.recvmsg(&mut scratch, libc::MSG_ERRQUEUE)?;
        Ok(match (control.software_time, control.timestamping_id) {
            (Some(time), Some(send_index)) => Some(TxTimestamp { send_index, time }),
            _ => None,
        })
    }

    fn recvmsg(
        &self,
        buffer: &mut [u8],
        flags: libc::c_int,
    ) -> io::Result<(usize, Option<SocketAddr>, ControlData)> {
        // SAFETY: a zeroed sockaddr_storage is a valid initial value.
        let mut from: libc::sockaddr_storage = unsafe { zeroed() };
        // 256 bytes hold every control message asked for (SCM_TIMESTAMPING: 64;
        // with IP(V6)_RECVERR on the error queue: 128); zeroed on every call.
        let mut control = [0u64; 32];
        let (len, message) = recv_one(self.fd.raw(), buffer, &mut from, &mut control, flags)?;
        let from = if message.msg_namelen > 0 {
            from_sockaddr(&from)
        } else {
            None
        };
        Ok((len.min(buffer.len()), from, parse_control(&message)))
    }
}

/// Write one SO_TIMESTAMPING control message asking the kernel for a software TX
/// timestamp of the datagram it is sent with into `control`; returns the control
/// length to send (0 if the buffer is too small).
pub(super) fn write_tx_timestamp_request(control: &mut [u64]) -> usize {
    control.fill(0);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(size_of::<u32>() as u32) } as usize;
    if size_of_val(control) < space {
        return 0;
    }
    // SAFETY: an all-zero msghdr is valid; only its control fields are read by the
    // CMSG macros below.
    let mut message: libc::msghdr = unsafe { zeroed() };
    message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    message.msg_controllen = space;
    // SAFETY: the control buffer holds at least `space` bytes: one cmsg with a u32.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&message) };
    if cmsg.is_null() {
        return 0;
    }
    // SAFETY: cmsg points at the start of the live control buffer, large enough for
    // the header and the u32 written below.
    unsafe {
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SO_TIMESTAMPING;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u32>() as u32) as usize;
        std::ptr::write_unaligned(
            libc::CMSG_DATA(cmsg) as *mut u32,
            libc::SOF_TIMESTAMPING_TX_SOFTWARE,
        );
    }
    space
}

#[derive(Default)]
pub(super) struct ControlData {
    pub(super) software_time: Option<UnixTime>,
    timestamping_id: Option<u32>,
}

pub(super) fn parse_control(message: &libc::msghdr) -> ControlData {
    let mut data = ControlData::default();
    // SAFETY: message was filled by recvmsg; CMSG_* walk only within msg_controllen.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(message) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points inside the control buffer.
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_DATA of a valid header points at its payload.
        let payload = unsafe { libc::CMSG_DATA(cmsg) };
        match (header.cmsg_level, header.cmsg_type) {
            (libc::SOL_SOCKET, libc::SO_TIMESTAMPING) => {
                // SAFETY: SCM_TIMESTAMPING carries three timespecs; [0] is software.
                let ts = unsafe { std::ptr::read_unaligned(payload as *const libc::timespec) };
                if ts.tv_sec != 0 || ts.tv_nsec != 0 {
                    data.software_time = Some(timespec_to_unix(&ts));
                }
            }
            (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS) => {
                // SAFETY: SCM_TIMESTAMPNS carries one timespec.
                let ts = unsafe { std::ptr::read_unaligned(payload as *const libc::timespec) };
                data.software_time = Some(timespec_to_unix(&ts));
            }
            (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR) => {
                // SAFETY: IP(V6)_RECVERR carries a sock_extended_err.
                let error =
                    unsafe { std::ptr::read_unaligned(payload as *const libc::sock_extended_err) };
                if error.ee_errno == libc::ENOMSG as u32
                    && error.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                {
                    data.timestamping_id = Some(error.ee_data);
                }
            }
            _ => {}
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(message, cmsg) };
    }
    data
}
