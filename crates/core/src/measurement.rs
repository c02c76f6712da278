//! Turning one client/server exchange into a sample.
//!
//! Owns the packet tests of RFC 5905 §8 for a response to our request (duplicate,
//! bogus origin, unsynchronised server, bad timestamps, root distance, maxdelay), the
//! classification of kiss-o'-death replies, and the offset/delay/dispersion of t1..t4.
//! It must not keep state between exchanges (the source does) nor filter samples
//! against each other (the estimator does).
//!
//! Sign convention everywhere in gnomon-core: `offset_s` is server time minus local
//! time, so a positive offset means the local clock is behind and must move forward.
//!
//! Era policy (docs/gnomond.md, "Which era a server's time is in"): a server's
//! timestamps carry no era, and a difference of two timestamps is only known modulo
//! 2^32 s (136 years). The server's time is taken to be in the fixed window of
//! gnomon-proto's `NtpTimestamp::to_unix` (1990-01-01 to 2126-02-07), whatever the local
//! clock reads, as chronyd takes it in its build-time window. So a server 2.2e9 s
//! (70 years) ahead of a clock in 2026 is 2096, as chronyd says, not 1960 (the era
//! nearest the local clock); no sample, and so no step, leaves the window.

use gnomon_proto::{KissCode, LeapIndicator, Mode, NtpHeader, NtpTimestamp, ReferenceId, UnixTime};

/// Largest root delay or root dispersion a server may report (RFC 5905 MAXDISP, 16 s).
pub const MAX_ROOT_DISPERSION_S: f64 = 16.0;
/// The growth rate assumed for the error of any clock that is not disciplined
/// (chrony's `maxclockerror` default: 1 ppm).
pub const DEFAULT_MAX_CLOCK_ERROR_PPM: f64 = 1.0;

/// The four timestamps of one exchange, in the local clock's time where local.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExchangeTimes {
    /// When the request left (a kernel TX timestamp when there is one).
    pub t1_local: UnixTime,
    /// When the server received it (server clock).
    pub t2_server: NtpTimestamp,
    /// When the server sent the reply (server clock).
    pub t3_server: NtpTimestamp,
    /// When the reply arrived (a kernel RX timestamp when there is one).
    pub t4_local: UnixTime,
}

/// One measurement of a source: what the estimator consumes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The local time the offset refers to (midpoint of t1 and t4).
    pub local_time: UnixTime,
    /// Server minus local clock, seconds (the source's `offset` option already added).
    pub offset_s: f64,
    /// Round-trip delay, seconds, never below the local precision.
    pub delay_s: f64,
    /// Error of this measurement from clock precisions and frequency tolerance, seconds.
    pub dispersion_s: f64,
    /// The server's root delay plus this exchange's delay.
    pub root_delay_s: f64,
    /// The server's root dispersion plus this measurement's dispersion.
    pub root_dispersion_s: f64,
    pub stratum: u8,
    pub leap: LeapIndicator,
    pub reference_id: ReferenceId,
}

impl Sample {
    /// Half the delay plus the dispersion: how far off this one sample may be.
    pub fn peer_distance_s(&self) -> f64 {
        self.delay_s / 2.0 + self.dispersion_s
    }
}

/// Why a reply did not give a sample. Counted per source; never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("not a server reply (mode {0:?})")]
    NotServerMode(Mode),
    #[error("no request outstanding, or a duplicate of a reply already seen")]
    Duplicate,
    #[error("origin timestamp does not match our request (bogus)")]
    BogusOrigin,
    #[error("kiss-o'-death {0}")]
    KissOfDeath(KissCode),
    #[error("server is not synchronised (leap 3 or stratum 0/16+)")]
    Unsynchronized,
    #[error("server's receive or transmit timestamp is zero or out of order")]
    BadTimestamps,
    #[error("root delay or root dispersion over 16 s")]
    RootDistanceTooLarge,
    #[error("round-trip delay over maxdelay")]
    DelayTooLarge,
    #[error("round-trip delay too far above the minimum (maxdelayratio/maxdelaydevratio)")]
    DelayOutlier,
    /// The server is synchronised to us: its reference ID is our address (RFC 5905
    /// loop check, chrony's test D). Decided by the source, which knows our address.
    #[error("server is synchronised to us (its reference ID is our address): a sync loop")]
    SyncLoop,
}

/// The most a server's transmit timestamp may precede its receive timestamp and still
/// be taken as timestamp fuzz within its precision (a server announcing a coarser
/// precision gets no more than this).
pub const MAX_TIMESTAMP_FUZZ_S: f64 = 1e-3;

/// Local parameters the tests and the computation need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeasurementLimits {
    /// Samples with a larger round-trip delay are rejected.
    pub maxdelay_s: f64,
    /// Added to every offset (the source's `offset` option).
    pub offset_correction_s: f64,
    /// Precision of the local clock's readings, seconds.
    pub local_precision_s: f64,
    /// Frequency tolerance of the local clock, ppm.
    pub max_clock_error_ppm: f64,
}

impl Default for MeasurementLimits {
    fn default() -> Self {
        MeasurementLimits {
            maxdelay_s: crate::source_options::DEFAULT_MAXDELAY_S,
            offset_correction_s: 0.0,
            local_precision_s: 1e-9,
            max_clock_error_ppm: DEFAULT_MAX_CLOCK_ERROR_PPM,
        }
    }
}

/// Check the reply's header against the request it should answer: mode, origin
/// (TEST2; a reply whose origin matches nothing we sent is a duplicate or bogus) and
/// kiss codes. A KoD is reported only when its origin matches, so nobody off-path
/// can shut a source down.
pub fn check_reply_header(
    reply: &NtpHeader,
    expected_origin: Option<NtpTimestamp>,
) -> Result<(), RejectReason> {
    if reply.mode != Mode::Server {
        return Err(RejectReason::NotServerMode(reply.mode));
    }
    let Some(expected) = expected_origin else {
        return Err(RejectReason::Duplicate);
    };
    if reply.origin_timestamp != expected || expected.is_zero() {
        return Err(RejectReason::BogusOrigin);
    }
    if let Some(code) = reply.kiss_code() {
        return Err(RejectReason::KissOfDeath(code));
    }
    if reply.is_unsynchronized() {
        return Err(RejectReason::Unsynchronized);
    }
    Ok(())
}

/// What to add to an era-independent offset (within ±68 years, `forward_s` = t2 - t1)
/// so that the server's time is in the fixed era window (the module's era policy):
/// whole eras of 2^32 s, zero whenever the server and the local clock are both in the
/// window and less than 68 years apart.
pub fn era_correction_s(t2_server: NtpTimestamp, t1_local: UnixTime, forward_s: f64) -> f64 {
    const ERA_S: f64 = gnomon_proto::time::ERA_S as f64;
    let windowed_s = (t2_server.to_unix().as_nanos() as f64 - t1_local.as_nanos() as f64) * 1e-9;
    ((windowed_s - forward_s) / ERA_S).round() * ERA_S
}

/// The server's processing time `t3 - t2`, seconds, or `None` when its transmit
/// timestamp precedes its receive timestamp by more than fuzz explains.
///
/// A server fills the bits of its timestamps below its precision with random bits
/// (chronyd does, so its readings reveal nothing finer than it can measure), so a reply
/// sent within a precision of its request's arrival may carry t3 a little before t2.
/// chronyd takes such a reply (it uses |t3 - t2|); only a reversal beyond the announced
/// precision (at most [`MAX_TIMESTAMP_FUZZ_S`]) is out of order. Under clknetsim, where
/// a server answers in zero time, rejecting these threw away about half of chronyd's
/// replies. gnomond and `gnomon query`/`fleet` both decide with this function.
pub fn server_processing_s(
    receive: NtpTimestamp,
    transmit: NtpTimestamp,
    precision_log2: i8,
) -> Option<f64> {
    let processing_s = transmit.wrapping_since(receive).as_seconds_f64();
    let tolerance_s = 2f64
        .powi(precision_log2.clamp(-32, 8) as i32)
        .min(MAX_TIMESTAMP_FUZZ_S);
    (processing_s >= -tolerance_s).then_some(processing_s)
}

/// Compute a sample from an exchange whose header passed [`check_reply_header`].
pub fn compute_sample(
    reply: &NtpHeader,
    times: &ExchangeTimes,
    limits: &MeasurementLimits,
) -> Result<Sample, RejectReason> {
    if times.t2_server.is_zero() || times.t3_server.is_zero() {
        return Err(RejectReason::BadTimestamps);
    }
    let local_elapsed_s = times
        .t4_local
        .duration_since(times.t1_local)
        .as_seconds_f64();
    let server_precision_s = 2f64.powi(reply.precision.clamp(-32, 8) as i32);
    let Some(server_processing_s) =
        server_processing_s(times.t2_server, times.t3_server, reply.precision)
    else {
        return Err(RejectReason::BadTimestamps);
    };
    if local_elapsed_s < 0.0 {
        return Err(RejectReason::BadTimestamps);
    }
    let t1_ntp = NtpTimestamp::from_unix(times.t1_local);
    let t4_ntp = NtpTimestamp::from_unix(times.t4_local);
    // Era-independent differences: (t2 - t1) and (t3 - t4).
    // Each into the era window on its own: near 68 years the two can straddle the
    // wrap of an NTP difference, and their mean would then be an era off.
    let forward_s = times.t2_server.wrapping_since(t1_ntp).as_seconds_f64();
    let forward_s = forward_s + era_correction_s(times.t2_server, times.t1_local, forward_s);
    let backward_s = times.t3_server.wrapping_since(t4_ntp).as_seconds_f64();
    let backward_s = backward_s + era_correction_s(times.t3_server, times.t4_local, backward_s);
    let offset_s = (forward_s + backward_s) / 2.0 + limits.offset_correction_s;
    let delay_s = (local_elapsed_s - server_processing_s).max(limits.local_precision_s);
    let dispersion_s = limits.local_precision_s
        + server_precision_s
        + limits.max_clock_error_ppm * 1e-6 * local_elapsed_s;
    let server_root_delay_s = reply.root_delay.as_seconds_f64();
    let server_root_dispersion_s = reply.root_dispersion.as_seconds_f64();
    if server_root_delay_s >= MAX_ROOT_DISPERSION_S
        || server_root_dispersion_s >= MAX_ROOT_DISPERSION_S
    {
        return Err(RejectReason::RootDistanceTooLarge);
    }
    if delay_s > limits.maxdelay_s {
        return Err(RejectReason::DelayTooLarge);
    }
    let midpoint = times
        .t1_local
        .add(times.t4_local.duration_since(times.t1_local).half());
    Ok(Sample {
        local_time: midpoint,
        offset_s,
        delay_s,
        dispersion_s,
        root_delay_s: server_root_delay_s + delay_s,
        root_dispersion_s: server_root_dispersion_s + dispersion_s,
        stratum: reply.stratum,
        leap: reply.leap,
        reference_id: reply.reference_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::{NtpDuration, NtpShort};

    const T0: i64 = 1_800_000_000;

    fn reply_with(origin: NtpTimestamp, t2: UnixTime, t3: UnixTime) -> NtpHeader {
        NtpHeader {
            mode: Mode::Server,
            stratum: 2,
            precision: -20,
            root_delay: NtpShort::from_seconds_f64(0.010),
            root_dispersion: NtpShort::from_seconds_f64(0.001),
            origin_timestamp: origin,
            receive_timestamp: NtpTimestamp::from_unix(t2),
            transmit_timestamp: NtpTimestamp::from_unix(t3),
            ..NtpHeader::default()
        }
    }

    fn at(offset_ms: f64) -> UnixTime {
        UnixTime::from_secs(T0).add(NtpDuration::from_seconds_f64(offset_ms * 1e-3))
    }

    #[test]
    fn offset_and_delay_from_four_timestamps() {
        // Server 5 ms ahead; 20 ms each way, 1 ms processing.
        let t1 = at(0.0);
        let t2 = at(5.0 + 20.0);
        let t3 = at(5.0 + 21.0);
        let t4 = at(41.0);
        let cookie = NtpTimestamp::from_bits(0xdead_beef_1234_5678);
        let reply = reply_with(cookie, t2, t3);
        check_reply_header(&reply, Some(cookie)).unwrap();
        let times = ExchangeTimes {
            t1_local: t1,
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            t4_local: t4,
        };
        let sample = compute_sample(&reply, &times, &MeasurementLimits::default()).unwrap();
        assert!(
            (sample.offset_s - 0.005).abs() < 1e-8,
            "{}",
            sample.offset_s
        );
        assert!((sample.delay_s - 0.040).abs() < 1e-8, "{}", sample.delay_s);
        assert!((sample.root_delay_s - 0.050).abs() < 1e-4);
        assert_eq!(sample.local_time, at(20.5));
        assert!(sample.dispersion_s > 2f64.powi(-20));
    }

    #[test]
    fn origin_and_mode_tests() {
        let cookie = NtpTimestamp::from_bits(42);
        let reply = reply_with(cookie, at(1.0), at(2.0));
        assert_eq!(
            check_reply_header(&reply, None),
            Err(RejectReason::Duplicate)
        );
        assert_eq!(
            check_reply_header(&reply, Some(NtpTimestamp::from_bits(43))),
            Err(RejectReason::BogusOrigin)
        );
        let client = NtpHeader {
            mode: Mode::Client,
            ..reply
        };
        assert!(matches!(
            check_reply_header(&client, Some(cookie)),
            Err(RejectReason::NotServerMode(Mode::Client))
        ));
        let kod = NtpHeader {
            stratum: 0,
            reference_id: KissCode::Rate.to_reference_id(),
            ..reply
        };
        assert_eq!(
            check_reply_header(&kod, Some(cookie)),
            Err(RejectReason::KissOfDeath(KissCode::Rate))
        );
        // A KoD with a wrong origin is just bogus.
        assert_eq!(
            check_reply_header(&kod, Some(NtpTimestamp::from_bits(7))),
            Err(RejectReason::BogusOrigin)
        );
        let unsync = NtpHeader {
            leap: LeapIndicator::Unsynchronized,
            ..reply
        };
        assert_eq!(
            check_reply_header(&unsync, Some(cookie)),
            Err(RejectReason::Unsynchronized)
        );
        let stratum16 = NtpHeader {
            stratum: 16,
            ..reply
        };
        assert_eq!(
            check_reply_header(&stratum16, Some(cookie)),
            Err(RejectReason::Unsynchronized)
        );
    }

    #[test]
    fn limits_reject() {
        let cookie = NtpTimestamp::from_bits(42);
        let reply = reply_with(cookie, at(100.0), at(100.0));
        let times = ExchangeTimes {
            t1_local: at(0.0),
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            t4_local: at(200.0),
        };
        let tight = MeasurementLimits {
            maxdelay_s: 0.1,
            ..Default::default()
        };
        assert_eq!(
            compute_sample(&reply, &times, &tight),
            Err(RejectReason::DelayTooLarge)
        );
        assert!(compute_sample(&reply, &times, &MeasurementLimits::default()).is_ok());
        let far = NtpHeader {
            root_dispersion: NtpShort::from_seconds_f64(20.0),
            ..reply
        };
        assert_eq!(
            compute_sample(&far, &times, &MeasurementLimits::default()),
            Err(RejectReason::RootDistanceTooLarge)
        );
        let reversed = ExchangeTimes {
            t3_server: NtpTimestamp::from_unix(at(99.0)),
            ..times
        };
        assert_eq!(
            compute_sample(&reply, &reversed, &MeasurementLimits::default()),
            Err(RejectReason::BadTimestamps)
        );
        let zero = ExchangeTimes {
            t2_server: NtpTimestamp::ZERO,
            ..times
        };
        assert_eq!(
            compute_sample(&reply, &zero, &MeasurementLimits::default()),
            Err(RejectReason::BadTimestamps)
        );
    }

    #[test]
    fn transmit_before_receive_within_the_server_precision_is_fuzz() {
        // chronyd randomises the bits below its precision: a reply sent at once can
        // carry t3 up to one precision before t2. Precision -20 is about 0.95 µs.
        let cookie = NtpTimestamp::from_bits(42);
        let t2 = at(100.0);
        let within = reply_with(cookie, t2, t2.add(NtpDuration::from_nanos(-900)));
        let times = ExchangeTimes {
            t1_local: at(0.0),
            t2_server: within.receive_timestamp,
            t3_server: within.transmit_timestamp,
            t4_local: at(200.0),
        };
        let sample = compute_sample(&within, &times, &MeasurementLimits::default())
            .expect("fuzz within the precision is not a reversal");
        assert!(
            (sample.delay_s - 0.200_000_9).abs() < 1e-9,
            "{}",
            sample.delay_s
        );
        let beyond = reply_with(cookie, t2, t2.add(NtpDuration::from_nanos(-2_000)));
        let times = ExchangeTimes {
            t3_server: beyond.transmit_timestamp,
            ..times
        };
        assert_eq!(
            compute_sample(&beyond, &times, &MeasurementLimits::default()),
            Err(RejectReason::BadTimestamps)
        );
        // A server claiming a 1 s precision is still held to a millisecond.
        let coarse = NtpHeader {
            precision: 0,
            ..reply_with(cookie, t2, t2.add(NtpDuration::from_nanos(-2_000_000)))
        };
        let times = ExchangeTimes {
            t3_server: coarse.transmit_timestamp,
            ..times
        };
        assert_eq!(
            compute_sample(&coarse, &times, &MeasurementLimits::default()),
            Err(RejectReason::BadTimestamps)
        );
    }

    #[test]
    fn offset_option_is_added() {
        let cookie = NtpTimestamp::from_bits(42);
        let reply = reply_with(cookie, at(10.0), at(10.0));
        let times = ExchangeTimes {
            t1_local: at(0.0),
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            t4_local: at(20.0),
        };
        let limits = MeasurementLimits {
            offset_correction_s: 0.25,
            ..Default::default()
        };
        let sample = compute_sample(&reply, &times, &limits).unwrap();
        assert!((sample.offset_s - 0.25).abs() < 1e-8);
    }

    /// The era policy: the server's time is in the 1990..2126 window, whatever the
    /// local clock reads (issue 19 item 9).
    #[test]
    fn the_server_time_is_taken_in_the_era_window() {
        let local_2026 = UnixTime::from_secs(1_796_000_000);
        let case = |local: UnixTime, server_minus_local_s: f64| {
            let server = NtpTimestamp::from_unix(local.add_seconds_f64(server_minus_local_s));
            let forward_s = server
                .wrapping_since(NtpTimestamp::from_unix(local))
                .as_seconds_f64();
            forward_s + era_correction_s(server, local, forward_s)
        };
        // 70 years ahead: 2096, as chronyd takes it (the nearest era would be 1960).
        assert!((case(local_2026, 2.2e9) - 2.2e9).abs() < 1e-3);
        // Ordinary offsets, either way, are untouched: no era is added at all.
        for offset_s in [0.0, 0.125, -3.5, 1.5e9, -1.0e9] {
            let server = NtpTimestamp::from_unix(local_2026.add_seconds_f64(offset_s));
            let forward_s = server
                .wrapping_since(NtpTimestamp::from_unix(local_2026))
                .as_seconds_f64();
            assert_eq!(era_correction_s(server, local_2026, forward_s), 0.0);
            assert!(
                (case(local_2026, offset_s) - offset_s).abs() < 1e-3,
                "{offset_s}"
            );
        }
        // Around the edge of the ±68 years an NTP difference holds.
        for offset_s in [2_147_483_647.999, 2_147_483_648.0, 2_147_483_648.001] {
            assert!(
                (case(local_2026, offset_s) - offset_s).abs() < 1e-3,
                "{offset_s}: {}",
                case(local_2026, offset_s)
            );
        }
        // A clock reset to 1970 learns 2026, and even 2110, beyond 68 years.
        let local_1970 = UnixTime::from_secs(0);
        assert!((case(local_1970, 1.796e9) - 1.796e9).abs() < 1e-3);
        assert!((case(local_1970, 4.4e9) - 4.4e9).abs() < 1e-3);
        // The same wire timestamps always mean the same time: a "1960" server reads
        // as 2096, outside the window it cannot be.
        assert!((case(local_2026, 2.2e9 - 4_294_967_296.0) - 2.2e9).abs() < 1e-3);
    }

    /// A server 2^31 s (68 years) ahead: t2 - t1 and t3 - t4 fall on either side of
    /// the wrap of an NTP difference; the offset must still be 2^31 s, not 0 or 2^32.
    #[test]
    fn an_offset_of_68_years_straddling_the_wrap_is_exact() {
        let ahead_s = 2_147_483_648.0;
        let t1 = at(0.0);
        let t2 = at(0.05).add_seconds_f64(ahead_s);
        let t3 = at(0.06).add_seconds_f64(ahead_s);
        let t4 = at(0.11);
        let cookie = NtpTimestamp::from_bits(0x0123_4567_89ab_cdef);
        let reply = reply_with(cookie, t2, t3);
        let times = ExchangeTimes {
            t1_local: t1,
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            t4_local: t4,
        };
        let sample = compute_sample(&reply, &times, &MeasurementLimits::default()).unwrap();
        assert!(
            (sample.offset_s - ahead_s).abs() < 1e-6,
            "{}",
            sample.offset_s
        );
        // And 2.2e9 s, beyond it: 2096, as chronyd takes it.
        let t2 = at(0.05).add_seconds_f64(2.2e9);
        let t3 = at(0.06).add_seconds_f64(2.2e9);
        let reply = reply_with(cookie, t2, t3);
        let times = ExchangeTimes {
            t2_server: reply.receive_timestamp,
            t3_server: reply.transmit_timestamp,
            ..times
        };
        let sample = compute_sample(&reply, &times, &MeasurementLimits::default()).unwrap();
        assert!(
            (sample.offset_s - 2.2e9).abs() < 1e-6,
            "{}",
            sample.offset_s
        );
    }
}
