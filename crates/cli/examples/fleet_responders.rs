//! Benchmark helper for `gnomon fleet`: many NTP responders in one process, spread over
//! 127.0.0.0/8 addresses and ports (loopback only), each serving time shifted by its
//! own small offset. Used by bench/fleet.sh; not a server for anything else (no access
//! control, no rate limiting).
//!
//! Owns binding ADDRESSES × PORTS sockets on 127.66.x.y, a few threads each waiting in
//! poll(2) (the daemon crate's safe wrapper) over its share, and the host list it writes.
//! It exits by itself after --seconds (bounded), or when killed by PID.
//!
//! `cargo run --release -p gnomon-cli --example fleet_responders -- ADDRESSES PORTS BASE_PORT SECONDS LIST_FILE`

use gnomon_proto::{
    LeapIndicator, Mode, NtpDuration, NtpHeader, NtpShort, NtpTimestamp, ReferenceId, UnixTime,
};
use gnomon_sys::fd::{poll, Readiness};
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

const THREADS: usize = 2;

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

fn reply(request: &NtpHeader, received_at: UnixTime, offset: NtpDuration) -> [u8; 48] {
    NtpHeader {
        leap: LeapIndicator::NoWarning,
        version: request.version,
        mode: Mode::Server,
        stratum: 2,
        poll: request.poll,
        precision: -20,
        root_delay: NtpShort::from_seconds_f64(0.0001),
        root_dispersion: NtpShort::from_seconds_f64(0.0002),
        reference_id: ReferenceId::from_u32(0x7F42_0001),
        reference_timestamp: NtpTimestamp::from_unix(received_at),
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: NtpTimestamp::from_unix(received_at.add(offset)),
        transmit_timestamp: NtpTimestamp::from_unix(now().add(offset)),
    }
    .to_bytes()
}

fn serve(sockets: Vec<(UdpSocket, NtpDuration)>, until: Instant) {
    let interests: Vec<_> = sockets
        .iter()
        .map(|(socket, _)| {
            (
                socket.as_raw_fd(),
                Readiness {
                    readable: true,
                    ..Readiness::default()
                },
            )
        })
        .collect();
    let mut buffer = [0u8; 512];
    while Instant::now() < until {
        let Ok(ready) = poll(&interests, Some(Duration::from_millis(100))) else {
            break;
        };
        for (index, readiness) in ready.iter().enumerate() {
            if !readiness.readable {
                continue;
            }
            let (socket, offset) = &sockets[index];
            for _ in 0..64 {
                match socket.recv_from(&mut buffer) {
                    Ok((len, peer)) => {
                        let received_at = now();
                        if let Ok((request, _)) = NtpHeader::parse(&buffer[..len]) {
                            if request.mode == Mode::Client {
                                let _ =
                                    socket.send_to(&reply(&request, received_at, *offset), peer);
                            }
                        }
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: fleet_responders ADDRESSES PORTS BASE_PORT SECONDS LIST_FILE");
        std::process::exit(2);
    }
    let addresses: usize = args[1].parse().expect("ADDRESSES");
    let ports: u16 = args[2].parse().expect("PORTS");
    let base_port: u16 = args[3].parse().expect("BASE_PORT");
    let seconds: u64 = args[4].parse().expect("SECONDS");
    assert!(
        addresses <= 250 * 250 && seconds <= 3600,
        "bounded: at most 62500 addresses, 1 h"
    );
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut list = String::new();
    let mut shares: Vec<Vec<(UdpSocket, NtpDuration)>> = (0..THREADS).map(|_| Vec::new()).collect();
    let mut count = 0usize;
    for a in 0..addresses {
        for p in 0..ports {
            let address = SocketAddr::from((
                [127, 66, (a / 250) as u8, (a % 250 + 1) as u8],
                base_port + p,
            ));
            let socket = match UdpSocket::bind(address) {
                Ok(socket) => socket,
                Err(error) => {
                    eprintln!("fleet_responders: {address}: {error}");
                    continue;
                }
            };
            socket.set_nonblocking(true).expect("nonblocking");
            // Offsets within ±1 ms, different per responder.
            let offset_s = ((count * 7919) % 2001) as f64 * 1e-6 - 0.001;
            shares[count % THREADS].push((socket, NtpDuration::from_seconds_f64(offset_s)));
            list.push_str(&format!("{address}\n"));
            count += 1;
        }
    }
    std::fs::write(&args[5], list).expect("write the host list");
    println!("ready {count}");
    let _ = std::io::stdout().flush();
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| std::thread::spawn(move || serve(share, until)))
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
}
