//! A scriptable NTP responder on 127.0.0.1 for tests.
//!
//! Owns one UDP socket and one thread. It answers client requests according to a
//! [`Behaviour`] and counts what it received. It must not be used outside tests: it
//! has no access control and no rate limiting.

use gnomon_proto::{
    KissCode, LeapIndicator, Mode, NtpDuration, NtpHeader, NtpShort, NtpTimestamp, ReferenceId,
    UnixTime,
};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How a [`Responder`] answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// A synchronised server whose clock is `offset_s` ahead of this host's.
    Serve {
        offset_s: f64,
        stratum: u8,
        leap: LeapIndicator,
        reference_id: ReferenceId,
        root_delay_s: f64,
        root_dispersion_s: f64,
    },
    /// Like `Serve` with zero offset, but the origin timestamp never matches the request.
    WrongOrigin,
    /// A kiss-o'-death with this code.
    Kiss(KissCode),
    /// Leap indicator 3 (alarm): the server is not synchronised.
    Unsynchronized,
    /// Replies whose receive and transmit timestamps are zero.
    ZeroTimestamps,
    /// Ten bytes of junk.
    Garbage,
    /// Receives but never answers.
    Silent,
}

impl Behaviour {
    /// A stratum-2 server with this offset and a normal leap indicator.
    pub fn offset(offset_s: f64) -> Self {
        Behaviour::Serve {
            offset_s,
            stratum: 2,
            leap: LeapIndicator::NoWarning,
            reference_id: ReferenceId::from_u32(0x0A00_0001),
            root_delay_s: 0.0001,
            root_dispersion_s: 0.0002,
        }
    }
}

/// A running responder. Dropping it stops the thread.
pub struct Responder {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Start a responder on 127.0.0.1 at an ephemeral port.
    pub fn start(behaviour: Behaviour) -> std::io::Result<Responder> {
        Responder::start_on("127.0.0.1:0".parse().expect("literal address"), behaviour)
    }

    /// Start a responder on a chosen loopback address.
    pub fn start_on(address: SocketAddr, behaviour: Behaviour) -> std::io::Result<Responder> {
        assert!(
            address.ip().is_loopback(),
            "test responders bind loopback only"
        );
        let socket = UdpSocket::bind(address)?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let address = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            std::thread::Builder::new()
                .name(format!("responder-{}", address.port()))
                .spawn(move || serve(socket, behaviour, &stop, &requests))?
        };
        Ok(Responder {
            address,
            stop,
            requests,
            thread: Some(thread),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

fn serve(socket: UdpSocket, behaviour: Behaviour, stop: &AtomicBool, requests: &AtomicU64) {
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(_) => continue,
        };
        let received_at = now();
        requests.fetch_add(1, Ordering::Relaxed);
        let Ok((request, _)) = NtpHeader::parse(&buffer[..len]) else {
            continue;
        };
        if request.mode != Mode::Client {
            continue;
        }
        let reply: Vec<u8> = match &behaviour {
            Behaviour::Silent => continue,
            Behaviour::Garbage => b"not ntp!!!".to_vec(),
            other => build_reply(other, &request, received_at).to_vec(),
        };
        let _ = socket.send_to(&reply, peer);
    }
}

fn build_reply(behaviour: &Behaviour, request: &NtpHeader, received_at: UnixTime) -> [u8; 48] {
    let mut reply = NtpHeader {
        leap: LeapIndicator::NoWarning,
        version: request.version,
        mode: Mode::Server,
        stratum: 2,
        poll: request.poll,
        precision: -20,
        root_delay: NtpShort::from_seconds_f64(0.0001),
        root_dispersion: NtpShort::from_seconds_f64(0.0002),
        reference_id: ReferenceId::from_u32(0x0A00_0001),
        reference_timestamp: NtpTimestamp::ZERO,
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: NtpTimestamp::ZERO,
        transmit_timestamp: NtpTimestamp::ZERO,
    };
    // Seconds, not an NTP duration: offsets beyond 68 years (era tests) stay exact.
    let mut offset_s = 0.0;
    match behaviour {
        Behaviour::Serve {
            offset_s: serve_offset_s,
            stratum,
            leap,
            reference_id,
            root_delay_s,
            root_dispersion_s,
        } => {
            offset_s = *serve_offset_s;
            reply.stratum = *stratum;
            reply.leap = *leap;
            reply.reference_id = *reference_id;
            reply.root_delay = NtpShort::from_seconds_f64(*root_delay_s);
            reply.root_dispersion = NtpShort::from_seconds_f64(*root_dispersion_s);
        }
        Behaviour::WrongOrigin => {
            reply.origin_timestamp = request
                .transmit_timestamp
                .wrapping_add(NtpDuration::from_fixed(0x1234_5678));
        }
        Behaviour::Kiss(code) => {
            reply.stratum = 0;
            reply.leap = LeapIndicator::Unsynchronized;
            reply.reference_id = code.to_reference_id();
        }
        Behaviour::Unsynchronized => {
            reply.leap = LeapIndicator::Unsynchronized;
            reply.stratum = 16;
        }
        Behaviour::ZeroTimestamps => {
            reply.origin_timestamp = request.transmit_timestamp;
            return reply.to_bytes();
        }
        Behaviour::Garbage | Behaviour::Silent => unreachable!("handled by the caller"),
    }
    let served_receive = received_at.add_seconds_f64(offset_s);
    reply.reference_timestamp = NtpTimestamp::from_unix(served_receive.add_seconds_f64(-1.0));
    reply.receive_timestamp = NtpTimestamp::from_unix(served_receive);
    reply.transmit_timestamp = NtpTimestamp::from_unix(now().add_seconds_f64(offset_s));
    reply.to_bytes()
}
