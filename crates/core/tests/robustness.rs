//! Hostile input: any bytes from a server, or any request from a client, are counted
//! and dropped or answered, never a panic, and never move the clock unless they pass
//! the origin test.

use gnomon_core::engine::{Engine, EngineConfig, EngineOutput};
use gnomon_core::source_options::SourceOptions;
use gnomon_proto::{NtpHeader, ReferenceId, UnixTime};
use proptest::prelude::*;

const START_S: i64 = 1_795_824_000;

proptest! {
    #[test]
    fn random_replies_never_panic_or_touch_the_clock_without_our_origin(
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..20),
        splice_origin in any::<bool>(),
    ) {
        let now = UnixTime::from_secs(START_S);
        let mut engine = Engine::new(EngineConfig::default(), [3; 32]);
        engine.start(now);
        let id = engine
            .add_source(SourceOptions { iburst: true, ..Default::default() }, ReferenceId::from_u32(1), now)
            .unwrap();
        let sent = engine.on_timer(now);
        let Some(EngineOutput::Send { packet: request, .. }) = sent.first().cloned() else {
            panic!("no request sent: {sent:?}");
        };
        for mut bytes in packets {
            if splice_origin && bytes.len() >= 48 {
                // Our cookie as origin: the packet passes TEST2 and reaches the sample tests.
                bytes[24..32].copy_from_slice(&request[40..48]);
            }
            let result = engine.on_response(id, &bytes, now, now);
            if let Ok(outputs) = &result {
                for output in outputs {
                    if let EngineOutput::Clock(_) = output {
                        prop_assert!(splice_origin, "clock moved by a packet without our origin");
                    }
                }
            }
        }
    }

    #[test]
    fn random_requests_get_a_reply_or_an_error(bytes in prop::collection::vec(any::<u8>(), 48..60)) {
        let now = UnixTime::from_secs(START_S);
        let engine = Engine::new(EngineConfig::default(), [3; 32]);
        if let Ok((request, _)) = NtpHeader::parse(&bytes) {
            if let Ok(reply) = engine.build_reply(&request, now, now) {
                prop_assert_eq!(reply.origin_timestamp, request.transmit_timestamp);
                prop_assert_eq!(reply.version, request.version);
            }
        }
    }
}
