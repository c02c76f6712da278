//! The libc layer on loopback: kernel RX/TX timestamps, poll, Unix datagrams, credentials.

use gnomon_sys::fd::{poll, Readiness};
use gnomon_sys::socket::{TimestampSupport, UdpSocket};
use gnomon_sys::timex::{realtime_now, KernelClock, LinuxKernelClock, Timex};
use gnomon_sys::unix::UnixDatagram;
use std::time::{Duration, Instant};

const READ: Readiness = Readiness {
    readable: true,
    priority: false,
    writable: false,
    error: false,
};
const TX_STAMP: Readiness = Readiness {
    readable: false,
    priority: true,
    writable: false,
    error: false,
};

fn wait(fd: std::os::fd::RawFd, interest: Readiness) -> Readiness {
    poll(&[(fd, interest)], Some(Duration::from_secs(2))).unwrap()[0]
}

#[test]
fn kernel_rx_and_tx_timestamps_on_loopback() {
    let mut server = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(server.enable_timestamps(), TimestampSupport::RxAndTx);
    let server_address = server.local_addr().unwrap();
    let mut client = UdpSocket::connect_to(server_address).unwrap();
    assert_eq!(client.enable_timestamps(), TimestampSupport::RxAndTx);
    let client_address = client.local_addr().unwrap();
    assert_ne!(client_address.port(), 0);

    // Linux turns software timestamping on through a static key switched by deferred
    // work, so right after the first timestamping socket of the system opens, a few
    // datagrams may still arrive unstamped. Warm up (bounded) until one is stamped;
    // the daemon itself falls back to user-space timestamps meanwhile.
    let mut warmups = 0u32;
    let warm_deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        client.send(&[0xEE; 48]).unwrap();
        warmups += 1;
        assert!(wait(server.raw_fd(), READ).readable);
        let mut buffer = [0u8; 128];
        let stamped = server.recv(&mut buffer).unwrap().kernel_rx.is_some();
        while client.recv_tx_timestamp().is_ok() {}
        if stamped {
            break;
        }
        assert!(
            std::time::Instant::now() < warm_deadline,
            "no kernel RX timestamp after {warmups} datagrams"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let before = realtime_now();
    for round in 0..3u32 {
        let index = round + warmups;
        client.send(&[round as u8; 48]).unwrap();
        assert!(wait(server.raw_fd(), READ).readable);
        let mut buffer = [0u8; 128];
        let received = server.recv(&mut buffer).unwrap();
        assert_eq!(received.len, 48);
        assert_eq!(buffer[0], round as u8);
        assert_eq!(received.from, Some(client_address));
        let rx = received
            .kernel_rx
            .unwrap_or_else(|| panic!("kernel RX timestamp missing on datagram {index}"));
        assert!(rx >= before && rx <= realtime_now(), "rx {rx:?}");

        // Late stamps of the warm-up datagrams may still be queued: skip them.
        let tx = loop {
            assert!(
                wait(client.raw_fd(), TX_STAMP).priority,
                "TX timestamp signalled by POLLPRI"
            );
            let stamp = client.recv_tx_timestamp().unwrap().expect("TX timestamp");
            assert!(
                stamp.send_index <= index,
                "a stamp from the future: {stamp:?}"
            );
            if stamp.send_index == index {
                break stamp;
            }
        };
        assert!(tx.time <= rx, "sent {:?} after received {rx:?}", tx.time);
    }
    // Nothing more waits: non-blocking sockets say so.
    let mut buffer = [0u8; 128];
    assert_eq!(
        server.recv(&mut buffer).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    assert_eq!(
        client.recv_tx_timestamp().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );

    // Reply back to the client with send_to.
    server.send_to(b"reply", client_address).unwrap();
    assert!(wait(client.raw_fd(), READ).readable);
    let received = client.recv(&mut buffer).unwrap();
    assert_eq!(&buffer[..received.len], b"reply");
}

#[test]
fn poll_times_out_without_readiness() {
    let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let started = Instant::now();
    let ready = poll(&[(socket.raw_fd(), READ)], Some(Duration::from_millis(50))).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(ready, vec![Readiness::default()]);
}

#[test]
fn ipv6_socket_or_clean_error() {
    // Hosts without IPv6 must give an error, never a panic; with it, loopback works.
    match UdpSocket::bind("[::1]:0".parse().unwrap()) {
        Ok(socket) => assert!(socket.local_addr().unwrap().is_ipv6()),
        Err(error) => assert!(error.raw_os_error().is_some()),
    }
}

#[test]
fn unix_datagrams_with_credentials_and_replies_to_an_abstract_address() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let server = UnixDatagram::bind_path(&path).unwrap();
    // 0666 from the umask at bind, whatever the process's umask is.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    server.pass_credentials().unwrap();
    let name = format!("gnomon-test.{}", std::process::id());
    let client = UnixDatagram::bind_abstract(name.as_bytes()).unwrap();
    client.connect(&path).unwrap();
    client.send(b"{\"command\":\"tracking\"}").unwrap();
    assert!(wait(server.raw_fd(), READ).readable);
    let mut buffer = [0u8; 64];
    let received = server.receive(&mut buffer).unwrap();
    assert_eq!(&buffer[..received.len], b"{\"command\":\"tracking\"}");
    assert!(!received.truncated);
    assert_eq!(received.from.to_string(), format!("@{name}"));
    let our_uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    assert_eq!(received.uid, Some(our_uid));
    server.send_to(b"reply", &received.from).unwrap();
    assert!(wait(client.raw_fd(), READ).readable);
    let reply = client.receive(&mut buffer).unwrap();
    assert_eq!(&buffer[..reply.len], b"reply");
    assert_eq!(reply.from.to_string(), path.display().to_string());
    // Longer than the buffer: truncated and said so.
    client.send(&[b'x'; 100]).unwrap();
    assert!(wait(server.raw_fd(), READ).readable);
    assert!(server.receive(&mut buffer).unwrap().truncated);
    // Nothing waiting: WouldBlock, never a wait.
    let error = server.receive(&mut buffer).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
    // An unbound sender cannot be answered.
    let anonymous = UnixDatagram::unbound().unwrap();
    anonymous.connect(&path).unwrap();
    anonymous.send(b"x").unwrap();
    assert!(wait(server.raw_fd(), READ).readable);
    assert!(server.receive(&mut buffer).unwrap().from.is_unnamed());
}

#[test]
fn reading_the_kernel_clock_state_is_read_only() {
    let mut kernel = LinuxKernelClock;
    let (state, code) = kernel.adjtime(&Timex::default()).unwrap();
    assert!((0..=5).contains(&code), "clock state {code}");
    assert!(state.tick_us > 0);
    let (again, _) = kernel.adjtime(&Timex::default()).unwrap();
    assert_eq!(
        again.frequency, state.frequency,
        "a read must not change the frequency"
    );
}

fn sysctl_bytes(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn server_sockets_get_a_larger_receive_buffer_than_the_default() {
    use gnomon_daemon::runtime::serve::{
        open_server_socket, PortSharing, SERVER_RECEIVE_BUFFER_BYTES,
    };
    // What the kernel grants: the request capped at rmem_max, doubled for its overhead.
    let expected = 2 * SERVER_RECEIVE_BUFFER_BYTES.min(sysctl_bytes("rmem_max"));
    let default = sysctl_bytes("rmem_default");
    for sharing in [PortSharing::Exclusive, PortSharing::ReusePort] {
        let server = open_server_socket("127.0.0.1:0".parse().unwrap(), sharing).unwrap();
        let granted = server.socket.receive_buffer().unwrap();
        assert_eq!(granted, expected);
        assert!(granted > default, "{granted} vs default {default}");
        // A plain socket keeps the default.
        let plain = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(plain.receive_buffer().unwrap(), default);
    }
}
