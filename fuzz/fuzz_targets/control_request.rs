//! Fuzz the control protocol's request side (gnomon_control::envelope and
//! protocol): arbitrary datagrams as the daemon receives them.
//!
//! Asserts: never a panic; a request that decodes encodes (as `gnomon` sends it) back
//! to bytes that decode to the same request, `seq` and `first`; an `online`/`offline`
//! address argument gives a selection or an error message; every error becomes an
//! error reply that fits in one reply datagram (MAX_REPLY_BYTES), decodes on the
//! client's side, echoes the request's `seq` and carries the protocol version and the
//! error's status. The client's reply decoder takes the
//! same bytes without a panic.
#![no_main]

use gnomon_control::envelope::{
    encode_request, error_page, parse_reply, parse_request, MAX_REPLY_BYTES,
};
use gnomon_control::protocol::Request;
use gnomon_control::source_match::SourceMatch;
use gnomon_control::status::{Status, PROTOCOL_VERSION};
use libfuzzer_sys::fuzz_target;

fn check_error_reply(seq: Option<u64>, status: Status, message: String) {
    let page = error_page(seq, status, message);
    assert!(
        page.bytes.len() <= MAX_REPLY_BYTES,
        "{} bytes",
        page.bytes.len()
    );
    assert!(!page.complete);
    let reply = parse_reply(&page.bytes).expect("error replies decode");
    assert_eq!(reply.seq, seq);
    assert_eq!(reply.version, Some(u64::from(PROTOCOL_VERSION)));
    assert_eq!(reply.status(), Ok(Some(status)));
    assert_eq!(reply.response["ok"], false);
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(data);
    let envelope = match parse_request(data) {
        Ok(envelope) => envelope,
        Err(error) => {
            assert_ne!(error.status, Status::Ok);
            return check_error_reply(error.seq, error.status, error.message);
        }
    };
    let _ = envelope.request.needs_root();
    let seq = envelope.seq.unwrap_or(0);
    let bytes = encode_request(&envelope.request, seq, envelope.first);
    let again = parse_request(&bytes).expect("an encoded request decodes");
    assert_eq!(again.request, envelope.request);
    assert_eq!(again.seq, Some(seq));
    assert_eq!(again.first, envelope.first);
    if let Request::Online { address } | Request::Offline { address } = &envelope.request {
        if let Err(message) = SourceMatch::parse(address.as_deref()) {
            check_error_reply(envelope.seq, Status::BadAddress, message);
        }
    }
});
