//! Packet parsing: round trips, truncations, hostile inputs.

use gnomon_proto::*;
use proptest::prelude::*;

fn sample_header() -> NtpHeader {
    NtpHeader {
        leap: LeapIndicator::InsertSecond,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: 6,
        precision: -23,
        root_delay: NtpShort::from_bits(0x0000_1234),
        root_dispersion: NtpShort::from_bits(0x0001_8000),
        reference_id: ReferenceId::from_u32(0xA9FE_A97B),
        reference_timestamp: NtpTimestamp::from_bits(0xEB00_0000_1234_5678),
        origin_timestamp: NtpTimestamp::from_bits(0xEB00_0001_0000_0001),
        receive_timestamp: NtpTimestamp::from_bits(0xEB00_0002_8000_0000),
        transmit_timestamp: NtpTimestamp::from_bits(0xEB00_0002_8000_1000),
    }
}

#[test]
fn header_wire_layout() {
    let bytes = sample_header().to_bytes();
    assert_eq!(bytes[0], 0b01_100_100);
    assert_eq!(bytes[1], 2);
    assert_eq!(bytes[2], 6);
    assert_eq!(bytes[3] as i8, -23);
    assert_eq!(&bytes[12..16], &[0xA9, 0xFE, 0xA9, 0x7B]);
    let (parsed, rest) = NtpHeader::parse(&bytes).unwrap();
    assert!(rest.is_empty());
    assert_eq!(parsed, sample_header());
}

#[test]
fn accepts_v3_and_v4_only() {
    let mut bytes = sample_header().to_bytes();
    for version in 0..8u8 {
        bytes[0] = (bytes[0] & !0x38) | (version << 3);
        let result = NtpHeader::parse(&bytes);
        if version == 3 || version == 4 {
            assert_eq!(result.unwrap().0.version, version);
        } else {
            assert_eq!(
                result.unwrap_err(),
                ParseError::UnsupportedVersion { version }
            );
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    let mut packet = NtpPacket::new(sample_header());
    packet.extensions.push(ExtensionField {
        field_type: 0x0104,
        value: vec![7; 28],
    });
    packet.mac = Some(Mac {
        key_id: 42,
        digest: vec![0xAB; 20],
    });
    let bytes = packet.to_bytes();
    assert_eq!(NtpPacket::parse(&bytes).unwrap(), packet);
    assert_eq!(bytes.len(), 48 + 32 + 24);
    // The prefixes that are themselves well-formed packets: the bare header, the header
    // followed by something MAC-sized, the header with the extension field, and that
    // followed by something MAC-sized. Every other truncation must be an error.
    let well_formed = [48, 52, 68, 72, 80, 84, 100];
    for len in 0..bytes.len() {
        let result = NtpPacket::parse(&bytes[..len]);
        assert_eq!(
            result.is_ok(),
            well_formed.contains(&len),
            "truncation to {len}: {result:?}"
        );
    }
}

#[test]
fn oversized_is_an_error() {
    let mut bytes = sample_header().to_bytes().to_vec();
    bytes.resize(MAX_PACKET_LEN + 1, 0);
    assert_eq!(
        NtpPacket::parse(&bytes).unwrap_err(),
        ParseError::TooLong {
            len: MAX_PACKET_LEN + 1
        }
    );
}

#[test]
fn extension_fields_are_walked_and_kept() {
    let mut bytes = sample_header().to_bytes().to_vec();
    // Unique identifier field (0x0104) of 36 bytes, then a 16-byte field, no MAC.
    bytes.extend_from_slice(&[0x01, 0x04, 0x00, 36]);
    bytes.extend_from_slice(&[9u8; 32]);
    bytes.extend_from_slice(&[0x02, 0x04, 0x00, 16]);
    bytes.extend_from_slice(&[1u8; 12]);
    let packet = NtpPacket::parse(&bytes).unwrap();
    assert_eq!(packet.extensions.len(), 2);
    assert_eq!(packet.extensions[0].field_type, 0x0104);
    assert_eq!(packet.extensions[0].value, vec![9u8; 32]);
    assert_eq!(packet.extensions[1].wire_len(), 16);
    assert_eq!(packet.mac, None);
    assert_eq!(packet.to_bytes(), bytes);
}

#[test]
fn bad_extension_lengths() {
    let mut bytes = sample_header().to_bytes().to_vec();
    bytes.extend_from_slice(&[0x01, 0x04, 0x00, 18]);
    bytes.extend_from_slice(&[0u8; 28]);
    assert_eq!(
        NtpPacket::parse(&bytes).unwrap_err(),
        ParseError::BadExtensionLength {
            offset: 48,
            length: 18
        }
    );
    let mut bytes = sample_header().to_bytes().to_vec();
    bytes.extend_from_slice(&[0x01, 0x04, 0x01, 0x00]);
    bytes.extend_from_slice(&[0u8; 28]);
    assert!(matches!(
        NtpPacket::parse(&bytes).unwrap_err(),
        ParseError::BadExtensionLength { length: 256, .. }
    ));
}

#[test]
fn mac_trailers_recognised() {
    for digest_len in [0usize, 16, 20] {
        let mut bytes = sample_header().to_bytes().to_vec();
        bytes.extend_from_slice(&7u32.to_be_bytes());
        bytes.extend(std::iter::repeat_n(0x5A, digest_len));
        let packet = NtpPacket::parse(&bytes).unwrap();
        let mac = packet.mac.unwrap();
        assert_eq!(mac.key_id, 7);
        assert_eq!(mac.digest.len(), digest_len);
    }
    // NTPv3 allows only a MAC after the header.
    let mut header = sample_header();
    header.version = 3;
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 32]);
    assert_eq!(
        NtpPacket::parse(&bytes).unwrap_err(),
        ParseError::BadTrailer { len: 32 }
    );
}

#[test]
fn kiss_of_death_decoded() {
    let mut header = sample_header();
    header.stratum = 0;
    header.reference_id = ReferenceId::from_ascii(*b"RATE");
    let (parsed, _) = NtpHeader::parse(&header.to_bytes()).unwrap();
    assert_eq!(parsed.kiss_code(), Some(KissCode::Rate));
    assert!(parsed.is_unsynchronized());
    header.stratum = 1;
    assert_eq!(header.kiss_code(), None);
    header.leap = LeapIndicator::Unsynchronized;
    assert!(header.is_unsynchronized());
}

fn arb_header() -> impl Strategy<Value = NtpHeader> {
    (
        any::<u8>(),
        3u8..=4,
        any::<u8>(),
        any::<(i8, i8, u32, u32, u32)>(),
        any::<(u64, u64, u64, u64)>(),
    )
        .prop_map(
            |(flags, version, stratum, (poll, precision, rd, rdisp, id), ts)| NtpHeader {
                leap: LeapIndicator::from_bits(flags >> 6),
                version,
                mode: Mode::from_bits(flags),
                stratum,
                poll,
                precision,
                root_delay: NtpShort::from_bits(rd),
                root_dispersion: NtpShort::from_bits(rdisp),
                reference_id: ReferenceId::from_u32(id),
                reference_timestamp: NtpTimestamp::from_bits(ts.0),
                origin_timestamp: NtpTimestamp::from_bits(ts.1),
                receive_timestamp: NtpTimestamp::from_bits(ts.2),
                transmit_timestamp: NtpTimestamp::from_bits(ts.3),
            },
        )
}

proptest! {
    #[test]
    fn header_round_trip(header in arb_header()) {
        let bytes = header.to_bytes();
        let (parsed, rest) = NtpHeader::parse(&bytes).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, header);
    }

    #[test]
    fn packet_round_trip(
        header in arb_header(),
        fields in proptest::collection::vec((any::<u16>(), 3usize..40), 0..4),
        mac in proptest::option::of((any::<u32>(), prop_oneof![Just(16usize), Just(20usize)])),
    ) {
        let mut header = header;
        header.version = 4;
        let mut packet = NtpPacket::new(header);
        for (field_type, words) in fields {
            // Values are whole words, at least 12 bytes, so serialisation adds no padding.
            packet.extensions.push(ExtensionField { field_type, value: vec![0xC3; words * 4] });
        }
        // RFC 7822: without a MAC, the last field must be at least 28 bytes long, or
        // it would be read as a MAC; keep generated packets unambiguous.
        if let (None, Some(last)) = (&mac, packet.extensions.last_mut()) {
            if last.value.len() < 24 { last.value.resize(24, 0); }
        }
        packet.mac = mac.map(|(key_id, len)| Mac { key_id, digest: vec![0x11; len] });
        let bytes = packet.to_bytes();
        prop_assert_eq!(NtpPacket::parse(&bytes).unwrap(), packet);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = NtpPacket::parse(&bytes);
    }

    #[test]
    fn unix_time_round_trip(nanos in -2_000_000_000_000_000_000i64..4_000_000_000_000_000_000i64) {
        let t = UnixTime::from_nanos(nanos);
        let ts = NtpTimestamp::from_unix(t);
        prop_assert_eq!(ts.to_unix_near(t), t);
        prop_assert_eq!(ts.to_unix_near(t.add(NtpDuration::from_seconds_f64(2.0e9))), t);
    }
}
