//! Batched UDP receive and send (`recvmmsg` / `sendmmsg`), through glibc.
//!
//! Owns a preallocated set of buffers, addresses, control buffers and message headers,
//! so a batch is received or sent with one system call and no allocation; a sent
//! datagram may ask for a kernel TX timestamp (interleaved replies). DESIGN rule 3:
//! batching is for worker threads (`server_threads`) and the load generator only; the
//! one-thread main loop keeps `recvmsg`/`sendto`. Each message has exactly one iovec.
//! Policy (what to answer) does not belong here.

use super::check;
use super::socket::{
    from_sockaddr, parse_control, to_sockaddr, write_tx_timestamp_request, UdpSocket,
};
use gnomon_proto::UnixTime;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;

/// Bytes per datagram buffer.
pub const BATCH_BUFFER_LEN: usize = 2049;
const CONTROL_WORDS: usize = 16;

/// A received datagram of a batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchReceived<'a> {
    pub data: &'a [u8],
    pub from: Option<SocketAddr>,
    pub kernel_rx: Option<UnixTime>,
}

/// Preallocated storage for up to `capacity` datagrams.
pub struct Batch {
    buffers: Vec<[u8; BATCH_BUFFER_LEN]>,
    lengths: Vec<usize>,
    addresses: Vec<libc::sockaddr_storage>,
    address_lengths: Vec<libc::socklen_t>,
    controls: Vec<[u64; CONTROL_WORDS]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// Outgoing slots that ask the kernel for a TX timestamp.
    stamp_tx: Vec<bool>,
    received: usize,
}

impl Batch {
    pub fn new(capacity: usize) -> Batch {
        let capacity = capacity.max(1);
        Batch {
            buffers: vec![[0u8; BATCH_BUFFER_LEN]; capacity],
            lengths: vec![0; capacity],
            // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values.
            addresses: vec![unsafe { zeroed() }; capacity],
            address_lengths: vec![0; capacity],
            controls: vec![[0u64; CONTROL_WORDS]; capacity],
            // SAFETY: as above.
            iovecs: vec![unsafe { zeroed() }; capacity],
            // SAFETY: as above.
            headers: vec![unsafe { zeroed() }; capacity],
            stamp_tx: vec![false; capacity],
            received: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// Point every header at its own buffer, address and control storage (the
    /// vectors never reallocate, but the pointers are refreshed before each call).
    fn prepare(&mut self, count: usize, receiving: bool) {
        for i in 0..count {
            let len = if receiving {
                BATCH_BUFFER_LEN
            } else {
                self.lengths[i]
            };
            self.iovecs[i] = libc::iovec {
                iov_base: self.buffers[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: len,
            };
            // SAFETY: an all-zero msghdr is valid; every field is set below.
            let mut header: libc::msghdr = unsafe { zeroed() };
            header.msg_name = &mut self.addresses[i] as *mut _ as *mut libc::c_void;
            header.msg_namelen = if receiving {
                size_of::<libc::sockaddr_storage>() as libc::socklen_t
            } else {
                self.address_lengths[i]
            };
            header.msg_iov = &mut self.iovecs[i];
            header.msg_iovlen = 1;
            if receiving {
                header.msg_control = self.controls[i].as_mut_ptr() as *mut libc::c_void;
                header.msg_controllen = size_of::<[u64; CONTROL_WORDS]>();
            } else if self.stamp_tx[i] {
                header.msg_control = self.controls[i].as_mut_ptr() as *mut libc::c_void;
                header.msg_controllen = write_tx_timestamp_request(&mut self.controls[i][..]);
            }
            self.headers[i] = libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            };
        }
    }

    /// Receive up to `capacity` datagrams without waiting (WouldBlock when none).
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let capacity = self.capacity();
        self.prepare(capacity, true);
        // SAFETY: headers[..capacity] point at live buffers of the stated sizes, owned
        // by self for the duration of the call; a null timeout does not wait longer
        // than MSG_DONTWAIT allows.
        let count = check(unsafe {
            libc::recvmmsg(
                socket.raw_fd(),
                self.headers.as_mut_ptr(),
                capacity as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        })? as usize;
        for i in 0..count {
            self.lengths[i] = (self.headers[i].msg_len as usize).min(BATCH_BUFFER_LEN);
        }
        self.received = count;
        Ok(count)
    }

    /// Datagram `index` of the last [`Batch::recv`].
    pub fn received(&self, index: usize) -> Option<BatchReceived<'_>> {
        if index >= self.received {
            return None;
        }
        let control = parse_control(&self.headers[index].msg_hdr);
        Some(BatchReceived {
            data: &self.buffers[index][..self.lengths[index]],
            from: from_sockaddr(&self.addresses[index]),
            kernel_rx: control.software_time,
        })
    }

    /// Put `data` to `to` in slot `index` for the next [`Batch::send`].
    pub fn set_outgoing(&mut self, index: usize, data: &[u8], to: SocketAddr) {
        let len = data.len().min(BATCH_BUFFER_LEN);
        self.buffers[index][..len].copy_from_slice(&data[..len]);
        self.lengths[index] = len;
        let (storage, address_len) = to_sockaddr(&to);
        self.addresses[index] = storage;
        self.address_lengths[index] = address_len;
        self.stamp_tx[index] = false;
    }

    /// Ask the kernel for a software TX timestamp of slot `index`'s datagram (an
    /// SO_TIMESTAMPING control message; the socket must number them with OPT_ID, see
    /// `UdpSocket::enable_server_timestamps`). Until the next `set_outgoing`.
    pub fn request_tx_timestamp(&mut self, index: usize) {
        self.stamp_tx[index] = true;
    }

    /// Mutable access to the buffer of slot `index` (to write a reply in place).
    pub fn buffer_mut(&mut self, index: usize) -> &mut [u8; BATCH_BUFFER_LEN] {
        &mut self.buffers[index]
    }

    /// Send slots `0..count` with one call; returns how many the kernel took.
    pub fn send(&mut self, socket: &UdpSocket, count: usize) -> io::Result<usize> {
        let count = count.min(self.capacity());
        if count == 0 {
            return Ok(0);
        }
        self.prepare(count, false);
        // SAFETY: headers[..count] point at live buffers and addresses owned by self.
        let sent = check(unsafe {
            libc::sendmmsg(
                socket.raw_fd(),
                self.headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        })?;
        Ok(sent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_on_loopback() {
        let mut server = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        server.enable_rx_timestamps();
        let to = server.local_addr().unwrap();
        let client = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut out = Batch::new(8);
        for i in 0..8u8 {
            out.set_outgoing(usize::from(i), &[i; 48], to);
        }
        assert_eq!(out.send(&client, 8).unwrap(), 8);
        let mut incoming = Batch::new(16);
        let mut got = Vec::new();
        for _ in 0..1000 {
            if let Ok(count) = incoming.recv(&server) {
                for i in 0..count {
                    let packet = incoming.received(i).unwrap();
                    assert_eq!(packet.data.len(), 48);
                    assert_eq!(packet.from, Some(client.local_addr().unwrap()));
                    got.push(packet.data[0]);
                }
            }
            if got.len() == 8 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, (0..8).collect::<Vec<u8>>());
        assert!(incoming.received(8).is_none());
        // The kernel turns RX timestamping on asynchronously: once it is on (bounded
        // wait), received datagrams carry their timestamp.
        let mut stamped = false;
        for _ in 0..200 {
            out.set_outgoing(0, &[9; 48], to);
            assert_eq!(out.send(&client, 1).unwrap(), 1);
            std::thread::sleep(std::time::Duration::from_millis(5));
            if let Ok(1) = incoming.recv(&server) {
                if incoming.received(0).unwrap().kernel_rx.is_some() {
                    stamped = true;
                    break;
                }
            }
        }
        assert!(stamped, "no kernel RX timestamp");
    }
}
