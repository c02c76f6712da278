//! One client/server exchange turned into a sample, or a reason to reject it.
//!
//! Owns the checks a one-shot query applies to a reply (RFC 5905 §8 tests that make
//! sense without an association) and the offset/delay arithmetic. It does no IO: the
//! caller supplies the request's transmit timestamp and the local send and receive
//! times. The daemon's continuous checks live in gnomon-core, not here.

use gnomon_core::measurement::{era_correction_s, server_processing_s};
use gnomon_proto::{KissCode, LeapIndicator, Mode, NtpHeader, NtpTimestamp, ParseError, UnixTime};

/// A usable measurement of a server's clock against the local clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Server clock minus local clock: positive when the server is ahead.
    pub offset_s: f64,
    /// Round-trip delay with the server's processing time taken out.
    pub delay_s: f64,
    /// The server's header, for stratum, reference ID, leap and root values.
    pub reply: NtpHeader,
}

impl Sample {
    /// Half the round trip plus the server's own distance to its reference:
    /// true time lies within offset ± this bound.
    pub fn error_bound_s(&self) -> f64 {
        self.delay_s / 2.0
            + self.reply.root_delay.as_seconds_f64() / 2.0
            + self.reply.root_dispersion.as_seconds_f64()
    }
}

/// Why a reply was not used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed reply: {0}")]
    Malformed(ParseError),
    #[error("reply is not from a server (mode {0:?})")]
    NotServerMode(Mode),
    #[error("origin timestamp does not match the request (spoofed or stale reply)")]
    BogusOrigin,
    #[error("kiss-o'-death {code}: {}", code.meaning())]
    KissOfDeath { code: KissCode },
    #[error("server is not synchronised (leap indicator {leap_bits}, stratum {stratum})")]
    Unsynchronized { leap_bits: u8, stratum: u8 },
    #[error("bogus timestamps: {0}")]
    BogusTimestamps(&'static str),
}

impl Rejection {
    /// A short machine-readable code for `--json`.
    pub fn code(&self) -> String {
        match self {
            Rejection::Malformed(_) => "malformed".into(),
            Rejection::NotServerMode(_) => "not_server_mode".into(),
            Rejection::BogusOrigin => "bogus_origin".into(),
            Rejection::KissOfDeath { code } => format!("kiss_{}", code.to_string().to_lowercase()),
            Rejection::Unsynchronized { .. } => "unsynchronized".into(),
            Rejection::BogusTimestamps(_) => "bogus_timestamps".into(),
        }
    }

    /// Whether the same server should be asked again: a KoD or an unsynchronised
    /// server will not change its answer within one query.
    pub fn is_final(&self) -> bool {
        matches!(self, Rejection::KissOfDeath { .. })
    }

    /// Replies that may be forgeries or strays are dropped and the wait goes on, so a
    /// spoofer cannot cancel the genuine reply (RFC 5905 TEST2).
    pub fn keeps_waiting(&self) -> bool {
        matches!(
            self,
            Rejection::Malformed(_) | Rejection::BogusOrigin | Rejection::NotServerMode(_)
        )
    }
}

/// The local side of one exchange.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// The random transmit timestamp the request carried (the reply must echo it).
    pub request_transmit: NtpTimestamp,
    /// Local clock when the request left (t1).
    pub sent_at: UnixTime,
    /// Local clock when the reply arrived (t4).
    pub received_at: UnixTime,
}

/// Longest root delay or dispersion accepted (RFC 5905 MAXDISP, 16 s).
const MAX_ROOT_S: f64 = 16.0;

/// Check a reply against its request and compute the sample.
pub fn evaluate(exchange: &Exchange, reply_bytes: &[u8]) -> Result<Sample, Rejection> {
    let (reply, _) = NtpHeader::parse(reply_bytes).map_err(Rejection::Malformed)?;
    if reply.mode != Mode::Server {
        return Err(Rejection::NotServerMode(reply.mode));
    }
    if reply.origin_timestamp != exchange.request_transmit {
        return Err(Rejection::BogusOrigin);
    }
    if let Some(code) = reply.kiss_code() {
        return Err(Rejection::KissOfDeath { code });
    }
    if reply.leap == LeapIndicator::Unsynchronized || reply.stratum >= 16 {
        return Err(Rejection::Unsynchronized {
            leap_bits: reply.leap.to_bits(),
            stratum: reply.stratum,
        });
    }
    measure(exchange, &reply)
}

/// The timestamp checks and offset/delay arithmetic alone, without the mode, origin,
/// KoD and synchronisation checks: what an unsynchronised server's clock says still
/// tells how far off it is (`gnomon fleet` and `gnomon lab` report it as such).
/// Callers must have matched the origin timestamp themselves.
pub fn measure(exchange: &Exchange, reply: &NtpHeader) -> Result<Sample, Rejection> {
    let reply = *reply;
    if reply.receive_timestamp.is_zero() || reply.transmit_timestamp.is_zero() {
        return Err(Rejection::BogusTimestamps(
            "receive or transmit timestamp is zero",
        ));
    }
    let Some(server_processing_s) = server_processing_s(
        reply.receive_timestamp,
        reply.transmit_timestamp,
        reply.precision,
    ) else {
        return Err(Rejection::BogusTimestamps(
            "server transmitted before it received",
        ));
    };
    if reply.root_delay.as_seconds_f64() > MAX_ROOT_S
        || reply.root_dispersion.as_seconds_f64() > MAX_ROOT_S
    {
        return Err(Rejection::BogusTimestamps(
            "root delay or dispersion over 16 s",
        ));
    }
    let t1 = exchange.sent_at;
    let t4 = exchange.received_at;
    let t2 = reply.receive_timestamp.to_unix_near(t1);
    let t3 = reply.transmit_timestamp.to_unix_near(t4);
    // gnomond's era policy (docs/gnomond.md): the server's time is in the fixed
    // 1990..2126 window, whatever this host's clock reads.
    let forward = t2.duration_since(t1).as_seconds_f64();
    let forward = forward + era_correction_s(reply.receive_timestamp, t1, forward);
    let backward = t3.duration_since(t4).as_seconds_f64();
    let backward = backward + era_correction_s(reply.transmit_timestamp, t4, backward);
    let round_trip = t4.duration_since(t1).as_seconds_f64();
    let delay_s = (round_trip - server_processing_s).max(0.0);
    Ok(Sample {
        offset_s: (forward + backward) / 2.0,
        delay_s,
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::{NtpDuration, NtpShort, ReferenceId};

    fn reply_for(exchange: &Exchange, server_offset_s: f64) -> NtpHeader {
        let one_way = NtpDuration::from_seconds_f64(0.010);
        NtpHeader {
            mode: Mode::Server,
            stratum: 3,
            root_delay: NtpShort::from_seconds_f64(0.002),
            root_dispersion: NtpShort::from_seconds_f64(0.001),
            reference_id: ReferenceId::from_u32(0x0102_0304),
            origin_timestamp: exchange.request_transmit,
            receive_timestamp: NtpTimestamp::from_unix(
                exchange
                    .sent_at
                    .add(one_way)
                    .add_seconds_f64(server_offset_s),
            ),
            transmit_timestamp: NtpTimestamp::from_unix(
                exchange
                    .sent_at
                    .add(one_way)
                    .add_seconds_f64(server_offset_s)
                    .add(NtpDuration::from_seconds_f64(0.001)),
            ),
            ..NtpHeader::default()
        }
    }

    fn exchange() -> Exchange {
        let sent_at = UnixTime::from_secs(1_795_000_000);
        Exchange {
            request_transmit: NtpTimestamp::from_bits(0xDEAD_BEEF_0BAD_F00D),
            sent_at,
            // 10 ms out, 1 ms at the server, 10 ms back.
            received_at: sent_at.add(NtpDuration::from_seconds_f64(0.021)),
        }
    }

    /// gnomond's era policy: a server 70 years ahead is in 2096 (not 1960), as
    /// chronyd and gnomond take it.
    #[test]
    fn a_server_70_years_ahead_is_ahead() {
        let exchange = exchange();
        for offset_s in [2.2e9, 2_147_483_648.0, -1.0e9] {
            let sample = evaluate(&exchange, &reply_for(&exchange, offset_s).to_bytes()).unwrap();
            assert!(
                (sample.offset_s - offset_s).abs() < 1e-6,
                "{}",
                sample.offset_s
            );
        }
    }

    #[test]
    fn offset_and_delay_from_four_timestamps() {
        let exchange = exchange();
        let sample = evaluate(&exchange, &reply_for(&exchange, 0.25).to_bytes()).unwrap();
        assert!((sample.offset_s - 0.25).abs() < 1e-6, "{}", sample.offset_s);
        assert!((sample.delay_s - 0.020).abs() < 1e-6, "{}", sample.delay_s);
        // 10 ms + 1 ms + 1 ms (rounded up in the short format).
        assert!((sample.error_bound_s() - 0.012).abs() < 1e-4);
        let behind = evaluate(&exchange, &reply_for(&exchange, -3.5).to_bytes()).unwrap();
        assert!((behind.offset_s + 3.5).abs() < 1e-6);
    }

    #[test]
    fn rejections_have_their_own_reasons() {
        let exchange = exchange();
        let good = reply_for(&exchange, 0.0);

        let mut wrong_origin = good;
        wrong_origin.origin_timestamp = NtpTimestamp::from_bits(1);
        assert_eq!(
            evaluate(&exchange, &wrong_origin.to_bytes()),
            Err(Rejection::BogusOrigin)
        );

        let mut kiss = good;
        kiss.stratum = 0;
        kiss.reference_id = ReferenceId::from_ascii(*b"RATE");
        let rejection = evaluate(&exchange, &kiss.to_bytes()).unwrap_err();
        assert_eq!(
            rejection,
            Rejection::KissOfDeath {
                code: KissCode::Rate
            }
        );
        assert_eq!(rejection.code(), "kiss_rate");
        assert!(rejection.to_string().contains("RATE"));

        let mut alarm = good;
        alarm.leap = LeapIndicator::Unsynchronized;
        assert!(matches!(
            evaluate(&exchange, &alarm.to_bytes()),
            Err(Rejection::Unsynchronized { leap_bits: 3, .. })
        ));

        let mut zero = good;
        zero.transmit_timestamp = NtpTimestamp::ZERO;
        assert!(matches!(
            evaluate(&exchange, &zero.to_bytes()),
            Err(Rejection::BogusTimestamps(_))
        ));

        let mut backwards = good;
        backwards.transmit_timestamp = good
            .receive_timestamp
            .wrapping_add(NtpDuration::from_seconds_f64(-0.5));
        assert!(matches!(
            evaluate(&exchange, &backwards.to_bytes()),
            Err(Rejection::BogusTimestamps(
                "server transmitted before it received"
            ))
        ));

        // chronyd's fuzz below its precision: t3 just before t2 is not a reversal
        // (the same rule as gnomond's, gnomon_core::measurement::server_processing_s).
        let mut fuzzed = good;
        fuzzed.precision = -20;
        fuzzed.transmit_timestamp = good
            .receive_timestamp
            .wrapping_add(NtpDuration::from_nanos(-900));
        let sample = evaluate(&exchange, &fuzzed.to_bytes()).expect("fuzz is no reversal");
        assert!((sample.delay_s - 0.021).abs() < 1e-6, "{}", sample.delay_s);

        let mut client = good;
        client.mode = Mode::Client;
        assert_eq!(
            evaluate(&exchange, &client.to_bytes()),
            Err(Rejection::NotServerMode(Mode::Client))
        );
        assert!(matches!(
            evaluate(&exchange, b"short"),
            Err(Rejection::Malformed(_))
        ));
    }
}
