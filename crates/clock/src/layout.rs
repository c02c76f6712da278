//! The byte layout of the clockbound file (docs/bounded-time.md is the contract).
//!
//! Owns encoding and decoding the one 64-byte record, little-endian, and the
//! constants of the format. Must not do IO or read clocks.
//!
//! | offset | size | field                                                       |
//! |-------:|-----:|-------------------------------------------------------------|
//! | 0      | 4    | magic `GNCB` (bytes 0x47 0x4E 0x43 0x42)                    |
//! | 4      | 4    | version, u32 = 1                                            |
//! | 8      | 8    | generation, u64: odd while the writer is writing            |
//! | 16     | 8    | as_of_ns, i64: CLOCK_REALTIME when `bound_ns` was computed  |
//! | 24     | 8    | bound_ns, u64: error bound at `as_of_ns`                    |
//! | 32     | 8    | drift_ppb, u64: bound growth, ns per s of age               |
//! | 40     | 8    | written_ns, i64: CLOCK_REALTIME of this write (heartbeat)   |
//! | 48     | 8    | stale_after_ns, u64: heartbeat age past which it is unknown |
//! | 56     | 1    | status, u8: 0 unknown, 1 synchronized, 2 free-running       |
//! | 57     | 7    | zero                                                        |

/// The first four bytes of the file.
pub const MAGIC: [u8; 4] = *b"GNCB";
/// The layout version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Size of the record (and of the file).
pub const RECORD_BYTES: usize = 64;
/// Offset of the generation counter.
pub const GENERATION_OFFSET: u64 = 8;
/// Where the payload (everything after the generation) starts.
pub const PAYLOAD_OFFSET: u64 = 16;
/// Payload size.
pub const PAYLOAD_BYTES: usize = RECORD_BYTES - PAYLOAD_OFFSET as usize;

/// What the daemon says about the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No bound is known: the interval is unbounded.
    Unknown,
    /// The daemon is synchronised to its sources.
    Synchronized,
    /// Holdover: no longer synchronised; the bound grows from the last good one.
    FreeRunning,
}

impl Status {
    pub fn to_byte(self) -> u8 {
        match self {
            Status::Unknown => 0,
            Status::Synchronized => 1,
            Status::FreeRunning => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Status {
        match byte {
            1 => Status::Synchronized,
            2 => Status::FreeRunning,
            _ => Status::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Synchronized => "synchronized",
            Status::FreeRunning => "free-running",
        }
    }
}

/// One published bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// CLOCK_REALTIME (Unix ns) at which `bound_ns` holds.
    pub as_of_ns: i64,
    /// The error bound at `as_of_ns`, ns.
    pub bound_ns: u64,
    /// How fast the bound grows with age, ns per second (parts per billion).
    pub drift_ppb: u64,
    /// CLOCK_REALTIME of the write: the writer's heartbeat.
    pub written_ns: i64,
    /// A heartbeat older than this makes the record unknown.
    pub stale_after_ns: u64,
    pub status: Status,
}

/// The payload bytes (offset 16..64) of `record`.
pub fn encode_payload(record: &Record) -> [u8; PAYLOAD_BYTES] {
    let mut out = [0u8; PAYLOAD_BYTES];
    out[0..8].copy_from_slice(&record.as_of_ns.to_le_bytes());
    out[8..16].copy_from_slice(&record.bound_ns.to_le_bytes());
    out[16..24].copy_from_slice(&record.drift_ppb.to_le_bytes());
    out[24..32].copy_from_slice(&record.written_ns.to_le_bytes());
    out[32..40].copy_from_slice(&record.stale_after_ns.to_le_bytes());
    out[40] = record.status.to_byte();
    out
}

fn word(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    out
}

/// Decode a payload written by [`encode_payload`].
pub fn decode_payload(bytes: &[u8; PAYLOAD_BYTES]) -> Record {
    Record {
        as_of_ns: i64::from_le_bytes(word(bytes, 0)),
        bound_ns: u64::from_le_bytes(word(bytes, 8)),
        drift_ppb: u64::from_le_bytes(word(bytes, 16)),
        written_ns: i64::from_le_bytes(word(bytes, 24)),
        stale_after_ns: u64::from_le_bytes(word(bytes, 32)),
        status: Status::from_byte(bytes[40]),
    }
}

/// The header: magic and version.
pub fn header() -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0..4].copy_from_slice(&MAGIC);
    out[4..8].copy_from_slice(&VERSION.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let record = Record {
            as_of_ns: 1_795_000_000_123_456_789,
            bound_ns: 1_234_567,
            drift_ppb: 15_000,
            written_ns: 1_795_000_001_000_000_000,
            stale_after_ns: 150_000_000_000,
            status: Status::FreeRunning,
        };
        assert_eq!(decode_payload(&encode_payload(&record)), record);
        assert_eq!(&header()[0..4], b"GNCB");
    }
}
