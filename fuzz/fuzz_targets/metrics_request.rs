//! Fuzz the metrics endpoint's HTTP request handling
//! (gnomon_daemon::control::metrics_server::answer), fed as a client would send it:
//! the input in pieces of up to 1024 bytes (one read each), answered once the head is
//! complete or too long.
//!
//! Asserts: never a panic; no answer while the head is incomplete and within
//! MAX_REQUEST_BYTES (+ one read); an answer is one HTTP/1.1 response whose
//! Content-Length is the length of its body (or, for HEAD, no body); the metrics are
//! rendered only for GET or HEAD of /metrics.
#![no_main]

use gnomon_daemon::control::metrics_server::{answer, Format, MAX_REQUEST_BYTES};
use libfuzzer_sys::fuzz_target;

const BODY: &str = "# HELP gnomon_fuzz x\ngnomon_fuzz 1\n";

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1) * 4;
    let mut input = Vec::new();
    for chunk in data.chunks(piece.min(1024)) {
        input.extend_from_slice(chunk);
        let mut rendered = None;
        let Some(out) = answer(&input, &mut |format: Format| {
            rendered = Some(format);
            BODY.to_string()
        }) else {
            assert!(
                input.len() <= MAX_REQUEST_BYTES,
                "{} bytes without an answer",
                input.len()
            );
            continue;
        };
        let text = String::from_utf8(out).expect("responses are ASCII");
        assert!(text.starts_with("HTTP/1.1 "), "{text:?}");
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .expect("a number");
        let request = String::from_utf8_lossy(&input);
        let head_request = request.starts_with("HEAD ");
        if rendered.is_some() {
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
            assert!(
                request.starts_with("GET /metrics") || head_request,
                "{request:?}"
            );
            assert_eq!(length, BODY.len());
            assert_eq!(body, if head_request { "" } else { BODY });
        } else {
            assert!(!head.starts_with("HTTP/1.1 200 "), "{head}");
            assert_eq!(body.len(), length);
        }
        return;
    }
});
