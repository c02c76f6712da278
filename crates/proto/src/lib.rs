//! gnomon-proto: the NTP wire formats gnomon speaks.
//!
//! Pure functions over bytes: timestamps and their era-aware conversion ([`time`]),
//! reference IDs and kiss codes ([`refid`]), and the packet with its extension fields
//! and MAC trailer ([`packet`]). No IO, no clock reads, no unsafe code; every parser
//! returns a typed error instead of panicking, and is fuzzed (see `fuzz/`).

#![forbid(unsafe_code)]

pub mod packet;
pub mod refid;
pub mod time;

pub use packet::{
    ExtensionField, LeapIndicator, Mac, Mode, NtpHeader, NtpPacket, ParseError, HEADER_LEN,
    MAX_PACKET_LEN,
};
pub use refid::{KissCode, ReferenceId};
pub use time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};
