//! Fuzz the packet parser: any input parses or gives an error, never a panic, and
//! whatever parses serialises back to bytes that parse to the same packet.
#![no_main]

use gnomon_proto::NtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = NtpPacket::parse(data) {
        let bytes = packet.to_bytes();
        let again = NtpPacket::parse(&bytes).expect("serialised packet parses");
        assert_eq!(again, packet);
    }
});
