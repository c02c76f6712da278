//! Server-side replies: the answer to one client request, built from a copy of the
//! system variables.
//!
//! Owns the reply header (origin copied from the request's transmit timestamp, RX and
//! TX timestamps as inputs, version echoed, poll echoed within limits, leap 3 and
//! stratum 16 when unsynchronised) and kiss-o'-death replies. It must not allocate,
//! decide access or rate limits (the caller does), or read a clock.

use gnomon_proto::{KissCode, LeapIndicator, Mode, NtpHeader, NtpShort, NtpTimestamp, UnixTime};

use crate::source_options::{MAX_POLL_EXPONENT, MIN_POLL_EXPONENT};
use crate::system::SystemVariables;

/// Why no reply is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("not a client request (mode {0:?})")]
    NotClientMode(Mode),
}

/// Build the reply to `request`, received at `received_at` and to be sent at
/// `transmit_at` (both local clock readings; the kernel RX timestamp when available).
pub fn build_reply(
    request: &NtpHeader,
    received_at: UnixTime,
    transmit_at: UnixTime,
    system: &SystemVariables,
) -> Result<NtpHeader, ReplyError> {
    if request.mode != Mode::Client {
        return Err(ReplyError::NotClientMode(request.mode));
    }
    let fields = system.reply_fields(received_at);
    Ok(NtpHeader {
        leap: fields.leap,
        version: request.version,
        mode: Mode::Server,
        stratum: fields.stratum,
        poll: request.poll.clamp(MIN_POLL_EXPONENT, MAX_POLL_EXPONENT),
        precision: fields.precision,
        root_delay: fields.root_delay,
        root_dispersion: fields.root_dispersion,
        reference_id: fields.reference_id,
        reference_timestamp: fields.reference_timestamp,
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: NtpTimestamp::from_unix(received_at),
        transmit_timestamp: NtpTimestamp::from_unix(transmit_at),
    })
}

/// A kiss-o'-death reply (e.g. RATE when the caller's rate limit hits). It carries no
/// time: receive and transmit timestamps repeat the request's transmit timestamp.
pub fn build_kiss_of_death(request: &NtpHeader, code: KissCode) -> Result<NtpHeader, ReplyError> {
    if request.mode != Mode::Client {
        return Err(ReplyError::NotClientMode(request.mode));
    }
    Ok(NtpHeader {
        leap: LeapIndicator::Unsynchronized,
        version: request.version,
        mode: Mode::Server,
        stratum: 0,
        poll: request.poll.clamp(MIN_POLL_EXPONENT, MAX_POLL_EXPONENT),
        precision: 0,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: code.to_reference_id(),
        reference_timestamp: NtpTimestamp::ZERO,
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: request.transmit_timestamp,
        transmit_timestamp: request.transmit_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_proto::{NtpDuration, ReferenceId};

    fn request(version: u8, poll: i8) -> NtpHeader {
        NtpHeader {
            version,
            ..NtpHeader::client_request(NtpTimestamp::from_bits(0x0123_4567_89ab_cdef), poll)
        }
    }

    fn synced() -> SystemVariables {
        SystemVariables {
            synchronized: true,
            leap: LeapIndicator::NoWarning,
            stratum: 3,
            reference_id: ReferenceId::from_u32(0x0a00_0001),
            reference_time: Some(UnixTime::from_secs(1_800_000_000)),
            root_delay_s: 0.004,
            root_dispersion_s: 0.001,
            dispersion_rate_ppm: 1.0,
            ..SystemVariables::unsynchronized(-24)
        }
    }

    #[test]
    fn reply_copies_and_echoes() {
        let rx = UnixTime::from_secs(1_800_000_100);
        let tx = rx.add(NtpDuration::from_nanos(15_000));
        for version in [3, 4] {
            let reply = build_reply(&request(version, 7), rx, tx, &synced()).unwrap();
            assert_eq!(reply.version, version);
            assert_eq!(reply.mode, Mode::Server);
            assert_eq!(reply.origin_timestamp.to_bits(), 0x0123_4567_89ab_cdef);
            assert_eq!(reply.receive_timestamp, NtpTimestamp::from_unix(rx));
            assert_eq!(reply.transmit_timestamp, NtpTimestamp::from_unix(tx));
            assert_eq!(reply.stratum, 3);
            assert_eq!(reply.poll, 7);
            assert_eq!(reply.precision, -24);
            assert!((reply.root_dispersion.as_seconds_f64() - 0.0011).abs() < 1e-4);
            assert!(!reply.is_unsynchronized());
        }
        let reply = build_reply(&request(4, 100), rx, tx, &synced()).unwrap();
        assert_eq!(reply.poll, MAX_POLL_EXPONENT);
    }

    #[test]
    fn unsynchronized_reply_and_non_clients() {
        let rx = UnixTime::from_secs(1_800_000_100);
        let reply = build_reply(
            &request(4, 6),
            rx,
            rx,
            &SystemVariables::unsynchronized(-20),
        )
        .unwrap();
        assert_eq!(reply.leap, LeapIndicator::Unsynchronized);
        assert_eq!(reply.stratum, 16);
        assert_eq!(reply.reference_timestamp, NtpTimestamp::ZERO);
        assert!(reply.is_unsynchronized());
        let server = NtpHeader {
            mode: Mode::Server,
            ..request(4, 6)
        };
        assert_eq!(
            build_reply(&server, rx, rx, &synced()),
            Err(ReplyError::NotClientMode(Mode::Server))
        );
    }

    #[test]
    fn kiss_of_death_reply() {
        let kod = build_kiss_of_death(&request(4, 4), KissCode::Rate).unwrap();
        assert_eq!(kod.kiss_code(), Some(KissCode::Rate));
        assert_eq!(kod.origin_timestamp, request(4, 4).transmit_timestamp);
    }
}
