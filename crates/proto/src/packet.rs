//! The NTPv4 packet (RFC 5905 §7.3) with extension fields (RFC 7822) and a MAC trailer.
//!
//! Owns parsing and serialising whole packets. Parsing never panics: any input gives a
//! packet or a typed [`ParseError`]. [`NtpHeader::parse`] reads only the fixed 48 bytes
//! and allocates nothing, for the server's hot path; [`NtpPacket::parse`] also walks
//! the extension fields and recognises a MAC. Validity in the protocol sense (origin
//! matches, server synchronised, ...) is the engine's job, not this module's.

use crate::refid::{KissCode, ReferenceId};
use crate::time::{NtpShort, NtpTimestamp};

/// Length of the fixed NTP header.
pub const HEADER_LEN: usize = 48;
/// Longest packet accepted (header, extension fields and MAC); longer is an error.
pub const MAX_PACKET_LEN: usize = 2048;
/// Smallest extension field (RFC 7822 §7.5).
pub const MIN_EXTENSION_LEN: usize = 16;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet too short: {len} bytes, an NTP header needs {HEADER_LEN}")]
    TooShort { len: usize },
    #[error("packet too long: {len} bytes, at most {MAX_PACKET_LEN} accepted")]
    TooLong { len: usize },
    #[error("unsupported NTP version {version} (3 and 4 are accepted)")]
    UnsupportedVersion { version: u8 },
    #[error("extension field at byte {offset} is truncated: {remaining} bytes left")]
    TruncatedExtension { offset: usize, remaining: usize },
    #[error("extension field at byte {offset} has invalid length {length}")]
    BadExtensionLength { offset: usize, length: usize },
    #[error("{len} trailing bytes after the header are neither extension fields nor a MAC")]
    BadTrailer { len: usize },
}

/// Leap indicator: the warning of an impending leap second, or "unsynchronised".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeapIndicator {
    NoWarning,
    /// The last minute of the day has 61 seconds.
    InsertSecond,
    /// The last minute of the day has 59 seconds.
    DeleteSecond,
    /// The clock is not synchronised (alarm condition).
    Unsynchronized,
}

impl LeapIndicator {
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::InsertSecond,
            2 => LeapIndicator::DeleteSecond,
            _ => LeapIndicator::Unsynchronized,
        }
    }

    pub const fn to_bits(self) -> u8 {
        match self {
            LeapIndicator::NoWarning => 0,
            LeapIndicator::InsertSecond => 1,
            LeapIndicator::DeleteSecond => 2,
            LeapIndicator::Unsynchronized => 3,
        }
    }

    /// The words chronyc uses in its `Leap status` line.
    pub const fn chronyc_name(self) -> &'static str {
        match self {
            LeapIndicator::NoWarning => "Normal",
            LeapIndicator::InsertSecond => "Insert second",
            LeapIndicator::DeleteSecond => "Delete second",
            LeapIndicator::Unsynchronized => "Not synchronised",
        }
    }
}

/// Association mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// NTP control messages (mode 6).
    Control,
    /// Reserved for private use (mode 7, ntpdc).
    Private,
}

impl Mode {
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    pub const fn to_bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The fixed 48-byte NTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpHeader {
    pub leap: LeapIndicator,
    /// 3 or 4.
    pub version: u8,
    pub mode: Mode,
    /// 0 = unspecified or kiss-o'-death, 1 = primary, 2..=15 secondary, 16 unsynchronised.
    pub stratum: u8,
    /// log2 of the poll interval in seconds.
    pub poll: i8,
    /// log2 of the clock precision in seconds.
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: ReferenceId,
    pub reference_timestamp: NtpTimestamp,
    pub origin_timestamp: NtpTimestamp,
    pub receive_timestamp: NtpTimestamp,
    pub transmit_timestamp: NtpTimestamp,
}

impl Default for NtpHeader {
    fn default() -> Self {
        NtpHeader {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            reference_id: ReferenceId::default(),
            reference_timestamp: NtpTimestamp::ZERO,
            origin_timestamp: NtpTimestamp::ZERO,
            receive_timestamp: NtpTimestamp::ZERO,
            transmit_timestamp: NtpTimestamp::ZERO,
        }
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn be_timestamp(bytes: &[u8], at: usize) -> NtpTimestamp {
    NtpTimestamp::from_bits(((be_u32(bytes, at) as u64) << 32) | be_u32(bytes, at + 4) as u64)
}

impl NtpHeader {
    /// A client request (mode 3, version 4) whose transmit timestamp is `transmit`.
    pub fn client_request(transmit: NtpTimestamp, poll: i8) -> Self {
        NtpHeader {
            leap: LeapIndicator::Unsynchronized,
            mode: Mode::Client,
            poll,
            transmit_timestamp: transmit,
            ..NtpHeader::default()
        }
    }

    /// Parse the fixed header and return it with the bytes that follow it.
    /// Allocates nothing.
    pub fn parse(bytes: &[u8]) -> Result<(NtpHeader, &[u8]), ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::TooShort { len: bytes.len() });
        }
        if bytes.len() > MAX_PACKET_LEN {
            return Err(ParseError::TooLong { len: bytes.len() });
        }
        let version = (bytes[0] >> 3) & 7;
        if !(3..=4).contains(&version) {
            return Err(ParseError::UnsupportedVersion { version });
        }
        let header = NtpHeader {
            leap: LeapIndicator::from_bits(bytes[0] >> 6),
            version,
            mode: Mode::from_bits(bytes[0]),
            stratum: bytes[1],
            poll: bytes[2] as i8,
            precision: bytes[3] as i8,
            root_delay: NtpShort::from_bits(be_u32(bytes, 4)),
            root_dispersion: NtpShort::from_bits(be_u32(bytes, 8)),
            reference_id: ReferenceId::from_u32(be_u32(bytes, 12)),
            reference_timestamp: be_timestamp(bytes, 16),
            origin_timestamp: be_timestamp(bytes, 24),
            receive_timestamp: be_timestamp(bytes, 32),
            transmit_timestamp: be_timestamp(bytes, 40),
        };
        Ok((header, &bytes[HEADER_LEN..]))
    }

    /// Write the header into the first 48 bytes of `out`.
    pub fn write_to(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = (self.leap.to_bits() << 6) | ((self.version & 7) << 3) | self.mode.to_bits();
        out[1] = self.stratum;
        out[2] = self.poll as u8;
        out[3] = self.precision as u8;
        out[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id.as_bytes());
        out[16..24].copy_from_slice(&self.reference_timestamp.to_be_bytes());
        out[24..32].copy_from_slice(&self.origin_timestamp.to_be_bytes());
        out[32..40].copy_from_slice(&self.receive_timestamp.to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit_timestamp.to_be_bytes());
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.write_to(&mut out);
        out
    }

    /// The kiss code, if this is a kiss-o'-death packet (stratum 0).
    pub fn kiss_code(&self) -> Option<KissCode> {
        (self.stratum == 0).then(|| KissCode::from_reference_id(self.reference_id))
    }

    /// True when the sender says it is not synchronised: leap 3, or stratum 0 or 16+.
    /// A kiss-o'-death (stratum 0) counts as unsynchronised too.
    pub fn is_unsynchronized(&self) -> bool {
        self.leap == LeapIndicator::Unsynchronized || self.stratum == 0 || self.stratum >= 16
    }
}

/// One RFC 7822 extension field: a 16-bit type and its value (padding included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionField {
    pub field_type: u16,
    pub value: Vec<u8>,
}

impl ExtensionField {
    /// Length on the wire: the 4-byte field header plus the value.
    pub fn wire_len(&self) -> usize {
        4 + self.value.len()
    }
}

/// A message authentication code trailer: key ID and digest (empty for a crypto-NAK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mac {
    pub key_id: u32,
    pub digest: Vec<u8>,
}

/// Lengths of a MAC trailer: crypto-NAK (key ID only), MD5 (16-byte digest) and
/// SHA-1 / AES-CMAC-128 truncated (20-byte digest).
const MAC_LENGTHS: [usize; 3] = [4, 20, 24];

/// A whole NTP packet: header, extension fields and optional MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtpPacket {
    pub header: NtpHeader,
    pub extensions: Vec<ExtensionField>,
    pub mac: Option<Mac>,
}

impl NtpPacket {
    pub fn new(header: NtpHeader) -> Self {
        NtpPacket {
            header,
            extensions: Vec::new(),
            mac: None,
        }
    }

    /// Parse a packet. Trailing bytes of an NTPv4 packet are walked as extension fields
    /// until what is left is empty or has the length of a MAC; an NTPv3 packet may
    /// carry only a MAC.
    pub fn parse(bytes: &[u8]) -> Result<NtpPacket, ParseError> {
        let (header, mut rest) = NtpHeader::parse(bytes)?;
        let mut extensions = Vec::new();
        let mut offset = HEADER_LEN;
        while !rest.is_empty() && !MAC_LENGTHS.contains(&rest.len()) {
            if header.version < 4 {
                return Err(ParseError::BadTrailer { len: rest.len() });
            }
            if rest.len() < MIN_EXTENSION_LEN {
                return Err(ParseError::TruncatedExtension {
                    offset,
                    remaining: rest.len(),
                });
            }
            let field_type = u16::from_be_bytes([rest[0], rest[1]]);
            let length = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            if length < MIN_EXTENSION_LEN || length % 4 != 0 || length > rest.len() {
                return Err(ParseError::BadExtensionLength { offset, length });
            }
            extensions.push(ExtensionField {
                field_type,
                value: rest[4..length].to_vec(),
            });
            rest = &rest[length..];
            offset += length;
        }
        let mac = if rest.is_empty() {
            None
        } else {
            Some(Mac {
                key_id: be_u32(rest, 0),
                digest: rest[4..].to_vec(),
            })
        };
        Ok(NtpPacket {
            header,
            extensions,
            mac,
        })
    }

    /// Serialise the packet. Extension values are padded to a multiple of 4 bytes and
    /// to the 16-byte minimum field length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&self.header.to_bytes());
        for field in &self.extensions {
            let padded = field.value.len().div_ceil(4) * 4;
            let length = (4 + padded).max(MIN_EXTENSION_LEN);
            out.extend_from_slice(&field.field_type.to_be_bytes());
            out.extend_from_slice(&(length as u16).to_be_bytes());
            out.extend_from_slice(&field.value);
            out.resize(out.len() + length - 4 - field.value.len(), 0);
        }
        if let Some(mac) = &self.mac {
            out.extend_from_slice(&mac.key_id.to_be_bytes());
            out.extend_from_slice(&mac.digest);
        }
        out
    }
}
