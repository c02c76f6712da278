//! Scripted servers: references whose answers the scenario dictates (truechimers,
//! falsetickers, unsynchronised servers, leap announcers, kiss-o'-death senders).
//!
//! Owns each static server's behaviour and clock and the reply it builds to one
//! request at one instant of true time. It must not run an engine (a server that is
//! itself a gnomon node is a [`crate::node::SimNode`]) and knows nothing about the
//! network that carries its replies.

use gnomon_core::server::{build_kiss_of_death, build_reply};
use gnomon_core::system::SystemVariables;
use gnomon_proto::{
    KissCode, LeapIndicator, NtpDuration, NtpHeader, NtpTimestamp, ReferenceId, UnixTime,
};

use crate::clock::VirtualClock;
use crate::rng::SimRng;
use crate::scenario::{LeapEvent, ServerKind, ServerSpec};

/// A static server and what happened to it.
#[derive(Clone, Debug)]
pub struct StaticServer {
    pub spec: ServerSpec,
    clock: Option<VirtualClock>,
    kiss: Option<KissCode>,
    start_true_ns: i64,
    /// Scheduled steps of `spec.clock` already applied (they are in time order).
    steps_applied: usize,
    pub requests_received: u64,
    /// Random bits for the timestamp bits below the announced precision.
    timestamp_fuzz: SimRng,
}

/// Precision the static servers announce (log2 seconds, about 60 ns), as a chronyd
/// on a modern kernel does.
const SERVER_PRECISION_LOG2: i8 = -24;

/// Fill the bits of `timestamp` below `precision_log2` seconds with random bits, as
/// chronyd does with its receive and transmit timestamps: a reply sent at once can then
/// carry t3 a little before t2, which a client must take (it did not, until clknetsim
/// showed it; this model of chronyd now does too).
fn fuzz_below_precision(
    timestamp: NtpTimestamp,
    precision_log2: i8,
    rng: &mut SimRng,
) -> NtpTimestamp {
    let fuzz_bits = (32 + i32::from(precision_log2)).clamp(0, 32) as u32;
    if fuzz_bits == 0 {
        return timestamp;
    }
    let mask = (1u64 << fuzz_bits) - 1;
    let random = (rng.uniform() * (1u64 << fuzz_bits) as f64) as u64 & mask;
    NtpTimestamp::from_bits((timestamp.to_bits() & !mask) | random)
}

/// The reference timescale at one instant: continuous true time and how far UTC
/// lags it because of leap seconds already inserted.
#[derive(Clone, Copy, Debug)]
pub struct Reference {
    pub true_ns: i64,
    /// UTC = true time − this (1 after an inserted leap second, −1 after a deleted one).
    pub utc_lag_s: i64,
    /// The leap announced by servers that announce leaps, until it happens.
    pub pending_leap: LeapIndicator,
}

impl Reference {
    pub fn at(true_ns: i64, leap: Option<&LeapEvent>) -> Reference {
        let (utc_lag_s, pending_leap) = match leap {
            None => (0, LeapIndicator::NoWarning),
            Some(event) if true_ns >= event.midnight_unix_s * 1_000_000_000 => {
                (if event.delete { -1 } else { 1 }, LeapIndicator::NoWarning)
            }
            Some(event) => (
                0,
                if event.delete {
                    LeapIndicator::DeleteSecond
                } else {
                    LeapIndicator::InsertSecond
                },
            ),
        };
        Reference {
            true_ns,
            utc_lag_s,
            pending_leap,
        }
    }

    /// True UTC as a reading.
    pub fn utc(&self) -> UnixTime {
        UnixTime::from_nanos(self.true_ns - self.utc_lag_s * 1_000_000_000)
    }
}

impl StaticServer {
    /// `rng` drives the server's own clock, `timestamp_fuzz` the bits of its timestamps
    /// below its precision (two streams, so one does not shift the other).
    pub fn new(
        spec: ServerSpec,
        start_true_ns: i64,
        rng: SimRng,
        timestamp_fuzz: SimRng,
    ) -> StaticServer {
        let clock = spec
            .clock
            .as_ref()
            .map(|c| VirtualClock::new(c, start_true_ns, rng));
        let kiss = spec
            .kiss_code
            .as_ref()
            .map(|code| KissCode::from_reference_id(ascii4(code)));
        StaticServer {
            spec,
            clock,
            kiss,
            start_true_ns,
            steps_applied: 0,
            requests_received: 0,
            timestamp_fuzz,
        }
    }

    fn silent_at(&self, true_ns: i64) -> bool {
        let since_s = (true_ns - self.start_true_ns) as f64 * 1e-9;
        self.spec
            .silent
            .iter()
            .any(|[from, to]| (*from..*to).contains(&since_s))
    }

    /// The server's clock reading at `reference`.
    fn read(&mut self, reference: &Reference) -> UnixTime {
        let mut error_s = self.spec.offset_s;
        if let Some(clock) = &mut self.clock {
            clock.advance_to(reference.true_ns);
            // Scheduled steps of a server's clock take effect at its next reply.
            let since_s = (reference.true_ns - self.start_true_ns) as f64 * 1e-9;
            let steps = self.spec.clock.as_ref().map_or(&[][..], |c| &c.steps[..]);
            while let Some(step) = steps.get(self.steps_applied) {
                if step.at_s > since_s {
                    break;
                }
                clock.step(step.offset_s);
                self.steps_applied += 1;
            }
            error_s += clock.error_s();
        }
        reference.utc().add(NtpDuration::from_seconds_f64(error_s))
    }

    /// The reply to `request` arriving at `reference.true_ns` (sent at once), if any.
    pub fn reply(&mut self, request: &NtpHeader, reference: &Reference) -> Option<NtpHeader> {
        self.requests_received += 1;
        if self.silent_at(reference.true_ns) {
            return None;
        }
        if let Some(code) = self.kiss {
            return build_kiss_of_death(request, code).ok();
        }
        let now = self.read(reference);
        let leap = match self.spec.kind {
            ServerKind::Unsynchronized => LeapIndicator::Unsynchronized,
            _ if self.spec.announce_leap => reference.pending_leap,
            _ => LeapIndicator::NoWarning,
        };
        let system = SystemVariables {
            synchronized: leap != LeapIndicator::Unsynchronized,
            leap,
            stratum: if leap == LeapIndicator::Unsynchronized {
                16
            } else {
                self.spec.stratum
            },
            reference_id: ReferenceId::from_ascii(*b"GPS\0"),
            reference_time: Some(now.add(NtpDuration::from_seconds_f64(-8.0))),
            root_dispersion_s: self.spec.root_dispersion_s,
            ..SystemVariables::unsynchronized(SERVER_PRECISION_LOG2)
        };
        let mut reply = build_reply(request, now, now, &system).ok()?;
        reply.receive_timestamp = fuzz_below_precision(
            reply.receive_timestamp,
            SERVER_PRECISION_LOG2,
            &mut self.timestamp_fuzz,
        );
        reply.transmit_timestamp = fuzz_below_precision(
            reply.transmit_timestamp,
            SERVER_PRECISION_LOG2,
            &mut self.timestamp_fuzz,
        );
        Some(reply)
    }
}

/// A kiss code's four ASCII letters, space padded.
fn ascii4(code: &str) -> ReferenceId {
    let mut bytes = [b' '; 4];
    for (slot, byte) in bytes.iter_mut().zip(code.bytes()) {
        *slot = byte.to_ascii_uppercase();
    }
    ReferenceId::from_ascii(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(kind: ServerKind, offset_s: f64, kiss: Option<&str>) -> StaticServer {
        let spec = ServerSpec {
            name: "s".into(),
            kind,
            offset_s,
            stratum: 1,
            announce_leap: true,
            kiss_code: kiss.map(str::to_string),
            root_dispersion_s: 1e-6,
            clock: None,
            silent: vec![[5.0, 6.0]],
        };
        StaticServer::new(spec, 0, SimRng::derive(0, "s"), SimRng::derive(0, "fuzz"))
    }

    /// The most the precision fuzz moves a timestamp, ns (rounded up).
    fn fuzz_ns() -> i64 {
        (2f64.powi(i32::from(SERVER_PRECISION_LOG2)) * 1e9).ceil() as i64
    }

    fn request() -> NtpHeader {
        NtpHeader::client_request(NtpTimestamp::from_bits(42), 6)
    }

    #[test]
    fn timestamps_are_fuzzed_below_the_precision_like_chronyds() {
        let mut s = server(ServerKind::Truechimer, 0.0, None);
        let reference = Reference::at(1_000_000_000, None);
        let precision_units = 1i64 << (32 + i32::from(SERVER_PRECISION_LOG2));
        let mut reversed = 0;
        for _ in 0..1000 {
            let reply = s.reply(&request(), &reference).unwrap();
            assert_eq!(reply.precision, SERVER_PRECISION_LOG2);
            let processing = reply.transmit_timestamp.to_bits() as i64
                - reply.receive_timestamp.to_bits() as i64;
            assert!(processing.abs() < precision_units, "{processing}");
            if processing < 0 {
                reversed += 1;
            }
        }
        // Answered at once, t3 precedes t2 about half the time.
        assert!((400..600).contains(&reversed), "{reversed} of 1000");
    }

    #[test]
    fn falseticker_serves_its_offset() {
        let mut s = server(ServerKind::Falseticker, 0.05, None);
        let reference = Reference::at(1_000_000_000, None);
        let reply = s.reply(&request(), &reference).unwrap();
        let served = reply.receive_timestamp.to_unix_near(reference.utc());
        // Exact but for the random bits below the announced precision (about 60 ns).
        let ahead_ns = served.as_nanos() - reference.utc().as_nanos();
        assert!((ahead_ns - 50_000_000).abs() < fuzz_ns(), "{ahead_ns}");
    }

    #[test]
    fn truechimer_with_its_own_clock_serves_that_clock() {
        let mut s = server(ServerKind::Truechimer, 0.0, None);
        s.spec.announce_leap = false;
        let spec = crate::scenario::ClockSpec {
            offset_s: 20e-6,
            frequency_ppm: 0.1,
            ..Default::default()
        };
        s.clock = Some(VirtualClock::new(&spec, 0, SimRng::derive(0, "c")));
        let reference = Reference::at(100_000_000_000, None);
        let reply = s.reply(&request(), &reference).unwrap();
        let served = reply.transmit_timestamp.to_unix_near(reference.utc());
        // 20 µs + 0.1 ppm × 100 s = 30 µs ahead of true time.
        let ahead_ns = served.as_nanos() - reference.utc().as_nanos();
        assert!((ahead_ns - 30_000).abs() <= 1 + fuzz_ns(), "{ahead_ns}");
    }

    #[test]
    fn kod_unsynchronized_leap_and_silence() {
        let mut kod = server(ServerKind::Kod, 0.0, Some("rate"));
        let reply = kod.reply(&request(), &Reference::at(0, None)).unwrap();
        assert_eq!(reply.kiss_code(), Some(KissCode::Rate));

        let mut unsync = server(ServerKind::Unsynchronized, 0.0, None);
        let reply = unsync.reply(&request(), &Reference::at(0, None)).unwrap();
        assert_eq!(reply.leap, LeapIndicator::Unsynchronized);

        // 2016-12-31: a leap warning is served only in June or December.
        const MIDNIGHT_S: i64 = 1_483_228_800;
        let event = LeapEvent {
            midnight_unix_s: MIDNIGHT_S,
            delete: false,
        };
        let mut leap = server(ServerKind::Truechimer, 0.0, None);
        let before = leap
            .reply(
                &request(),
                &Reference::at((MIDNIGHT_S - 10) * 1_000_000_000, Some(&event)),
            )
            .unwrap();
        assert_eq!(before.leap, LeapIndicator::InsertSecond);
        let after_ref = Reference::at((MIDNIGHT_S + 1) * 1_000_000_000, Some(&event));
        assert_eq!(after_ref.utc().as_nanos(), MIDNIGHT_S * 1_000_000_000);
        let after = leap.reply(&request(), &after_ref).unwrap();
        assert_eq!(after.leap, LeapIndicator::NoWarning);

        assert!(leap
            .reply(&request(), &Reference::at(5_500_000_000, None))
            .is_none());
    }
}
