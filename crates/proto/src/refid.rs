//! Reference IDs and kiss-o'-death codes.
//!
//! Owns the 32-bit reference identifier: the one function that derives it from a
//! server's address ([`ReferenceId::from_ip`], RFC 5905 §7.3, as chrony computes it),
//! how it is printed (the way chronyc prints it) and how a stratum-0 packet's
//! reference ID is read as a kiss code (RFC 5905 §7.4).

use md5::{Digest, Md5};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The 32-bit reference identifier of an NTP header.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReferenceId {
    bytes: [u8; 4],
}

impl ReferenceId {
    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        ReferenceId { bytes }
    }

    pub const fn from_u32(value: u32) -> Self {
        ReferenceId {
            bytes: value.to_be_bytes(),
        }
    }

    pub const fn from_ipv4(addr: Ipv4Addr) -> Self {
        ReferenceId {
            bytes: addr.octets(),
        }
    }

    /// The first four octets of the MD5 digest of the 16 address octets (RFC 5905
    /// §7.3; chrony's `UTI_IPToRefid`). Not a security measure: only a stable
    /// identifier that NTP servers agree on, so a sync loop through IPv6 is seen.
    pub fn from_ipv6(addr: Ipv6Addr) -> Self {
        let digest = Md5::digest(addr.octets());
        ReferenceId {
            bytes: [digest[0], digest[1], digest[2], digest[3]],
        }
    }

    /// The reference ID a server announces while `addr` is its reference, and the one
    /// a server synchronised to us announces when it reaches us at `addr`: the IPv4
    /// address itself, or for IPv6 [`ReferenceId::from_ipv6`].
    pub fn from_ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => ReferenceId::from_ipv4(v4),
            IpAddr::V6(v6) => ReferenceId::from_ipv6(v6),
        }
    }

    /// An ASCII code such as `b"GPS\0"` or `b"LOCL"`.
    pub const fn from_ascii(code: [u8; 4]) -> Self {
        ReferenceId { bytes: code }
    }

    pub const fn as_bytes(self) -> [u8; 4] {
        self.bytes
    }

    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.bytes)
    }

    /// Eight upper-case hex digits, as in chronyc's `Reference ID : 7F7F0101`.
    pub fn to_hex(self) -> String {
        format!("{:08X}", self.to_u32())
    }

    /// The ASCII text of the ID with trailing NULs removed, if every other byte is
    /// printable; `None` otherwise.
    pub fn ascii(self) -> Option<String> {
        let end = self
            .bytes
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        let text = &self.bytes[..end];
        if text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            Some(String::from_utf8_lossy(text).into_owned())
        } else {
            None
        }
    }

    /// How chronyc shows this ID for a server of `stratum`: ASCII for stratum 0 and 1
    /// (kiss codes and reference clocks), a dotted quad for stratum 2 and above, and hex
    /// when a stratum 0/1 ID is not printable ASCII.
    pub fn display(self, stratum: u8) -> String {
        if stratum <= 1 {
            match self.ascii() {
                Some(text) => text,
                None => self.to_hex(),
            }
        } else {
            Ipv4Addr::from(self.bytes).to_string()
        }
    }
}

impl fmt::Debug for ReferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferenceId({})", self.to_hex())
    }
}

/// A kiss-o'-death code: the reference ID of a stratum-0 packet (RFC 5905 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KissCode {
    /// The association belongs to an anycast server.
    Acst,
    /// Server authentication failed.
    Auth,
    /// Autokey sequence failed.
    Auto,
    /// The association belongs to a broadcast server.
    Bcst,
    /// Cryptographic authentication or identification failed.
    Cryp,
    /// Access denied by remote server: stop using it.
    Deny,
    /// Lost peer in symmetric mode.
    Drop,
    /// Access denied due to local policy: stop using it.
    Rstr,
    /// The association has not yet synchronized for the first time.
    Init,
    /// The association belongs to a dynamically discovered server.
    Mcst,
    /// No key found.
    Nkey,
    /// NTS negative acknowledgment (RFC 8915).
    Ntsn,
    /// Rate exceeded: the client must reduce its polling rate.
    Rate,
    /// Alteration of association from a remote host running ntpdc.
    Rmot,
    /// A step change in system time has occurred, but the association has not yet resynchronized.
    Step,
    /// A code this library does not know.
    Other([u8; 4]),
}

impl KissCode {
    pub fn from_reference_id(id: ReferenceId) -> KissCode {
        match &id.as_bytes() {
            b"ACST" => KissCode::Acst,
            b"AUTH" => KissCode::Auth,
            b"AUTO" => KissCode::Auto,
            b"BCST" => KissCode::Bcst,
            b"CRYP" => KissCode::Cryp,
            b"DENY" => KissCode::Deny,
            b"DROP" => KissCode::Drop,
            b"RSTR" => KissCode::Rstr,
            b"INIT" => KissCode::Init,
            b"MCST" => KissCode::Mcst,
            b"NKEY" => KissCode::Nkey,
            b"NTSN" => KissCode::Ntsn,
            b"RATE" => KissCode::Rate,
            b"RMOT" => KissCode::Rmot,
            b"STEP" => KissCode::Step,
            other => KissCode::Other(*other),
        }
    }

    pub fn to_reference_id(self) -> ReferenceId {
        ReferenceId::from_ascii(match self {
            KissCode::Acst => *b"ACST",
            KissCode::Auth => *b"AUTH",
            KissCode::Auto => *b"AUTO",
            KissCode::Bcst => *b"BCST",
            KissCode::Cryp => *b"CRYP",
            KissCode::Deny => *b"DENY",
            KissCode::Drop => *b"DROP",
            KissCode::Rstr => *b"RSTR",
            KissCode::Init => *b"INIT",
            KissCode::Mcst => *b"MCST",
            KissCode::Nkey => *b"NKEY",
            KissCode::Ntsn => *b"NTSN",
            KissCode::Rate => *b"RATE",
            KissCode::Rmot => *b"RMOT",
            KissCode::Step => *b"STEP",
            KissCode::Other(bytes) => bytes,
        })
    }

    /// DENY and RSTR tell a client to stop using the server for good.
    pub fn is_access_denied(self) -> bool {
        matches!(self, KissCode::Deny | KissCode::Rstr)
    }

    /// What the code means, for people.
    pub fn meaning(self) -> &'static str {
        match self {
            KissCode::Acst => "the association belongs to an anycast server",
            KissCode::Auth => "server authentication failed",
            KissCode::Auto => "autokey sequence failed",
            KissCode::Bcst => "the association belongs to a broadcast server",
            KissCode::Cryp => "cryptographic authentication or identification failed",
            KissCode::Deny => "access denied by the server",
            KissCode::Drop => "lost peer in symmetric mode",
            KissCode::Rstr => "access denied due to the server's local policy",
            KissCode::Init => "the server has not yet synchronized",
            KissCode::Mcst => "the association belongs to a dynamically discovered server",
            KissCode::Nkey => "no key found",
            KissCode::Ntsn => "NTS negative acknowledgement",
            KissCode::Rate => "rate exceeded: poll less often",
            KissCode::Rmot => "alteration of association from a remote host",
            KissCode::Step => "the server stepped its clock and has not resynchronized",
            KissCode::Other(_) => "unknown kiss code",
        }
    }
}

impl fmt::Display for KissCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.to_reference_id();
        match id.ascii() {
            Some(text) => f.write_str(&text),
            None => f.write_str(&id.to_hex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_chronyc() {
        let local = ReferenceId::from_u32(0x7F7F_0101);
        assert_eq!(local.to_hex(), "7F7F0101");
        assert_eq!(local.display(8), "127.127.1.1");
        let gps = ReferenceId::from_ascii(*b"GPS\0");
        assert_eq!(gps.display(1), "GPS");
        assert_eq!(gps.display(0), "GPS");
        let pps = ReferenceId::from_ascii(*b"PPS\0");
        assert_eq!(pps.to_hex(), "50505300");
        let binary = ReferenceId::from_bytes([0x01, 0xfe, 0x00, 0x7f]);
        assert_eq!(binary.display(1), "01FE007F");
        assert_eq!(binary.display(3), "1.254.0.127");
        assert_eq!(ReferenceId::from_bytes([0; 4]).display(0), "");
    }

    #[test]
    fn from_ip_is_the_address_or_the_md5_of_the_ipv6_octets() {
        // IPv4: the address itself (chronyc shows 169.254.169.123 as A9FEA97B).
        assert_eq!(
            ReferenceId::from_ip("169.254.169.123".parse().unwrap()).to_hex(),
            "A9FEA97B"
        );
        // IPv6: the expected digests were computed outside this code, from the 16
        // address octets:
        //   printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01' | md5sum
        //   cf404dc806178c245b5b4fe2531e6d8c
        //   printf '\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01' | openssl md5
        //   MD5(stdin)= 39ab9b3749629b8f2c7ccf39226f680c
        let loopback = ReferenceId::from_ip("::1".parse().unwrap());
        assert_eq!(loopback.to_hex(), "CF404DC8");
        // chronyc prints a stratum-2+ ID as a dotted quad, whatever it came from.
        assert_eq!(loopback.display(2), "207.64.77.200");
        assert_eq!(
            ReferenceId::from_ip("2001:db8::1".parse().unwrap()).to_hex(),
            "39AB9B37"
        );
    }

    #[test]
    fn kiss_codes_round_trip() {
        for code in [
            KissCode::Acst,
            KissCode::Auth,
            KissCode::Auto,
            KissCode::Bcst,
            KissCode::Cryp,
            KissCode::Deny,
            KissCode::Drop,
            KissCode::Rstr,
            KissCode::Init,
            KissCode::Mcst,
            KissCode::Nkey,
            KissCode::Ntsn,
            KissCode::Rate,
            KissCode::Rmot,
            KissCode::Step,
            KissCode::Other(*b"XYZW"),
        ] {
            assert_eq!(KissCode::from_reference_id(code.to_reference_id()), code);
        }
        assert_eq!(
            KissCode::from_reference_id(ReferenceId::from_ascii(*b"RATE")),
            KissCode::Rate
        );
        assert!(KissCode::Deny.is_access_denied());
        assert!(KissCode::Rstr.is_access_denied());
        assert!(!KissCode::Rate.is_access_denied());
        assert_eq!(KissCode::Rate.to_string(), "RATE");
        assert_eq!(KissCode::Other([0xff, 0, 1, 2]).to_string(), "FF000102");
    }
}
