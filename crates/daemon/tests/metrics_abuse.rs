//! The metrics endpoint never holds up the main loop: idle and half-sent connections
//! fill its 16 slots without delaying the control socket, are closed after 5 s, an
//! oversized request head gets 431, and a normal scrape works afterwards. Loopback only;
//! every wait is bounded.

mod serving;

use gnomon_testkit::chronyd::free_tcp_port;
use serving::Gnomond;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn get(port: u16, head: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn slow_and_hostile_clients_cost_a_slot_never_a_wait() {
    let port = free_tcp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &[
            format!("metrics 127.0.0.1:{port}"),
            "local stratum 5".into(),
        ],
    );
    let ok = get(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");

    // 20 connections that never finish a request: 16 take the slots, 4 wait in the
    // backlog. The half-sent one has a request line and no end of head.
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    idle[0]
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // The loop still answers the control socket at once.
    let started = Instant::now();
    let tracking = gnomond.control("tracking");
    assert!(tracking["stratum"].is_number(), "{tracking}");
    let control_s = started.elapsed().as_secs_f64();
    assert!(
        control_s < 1.0,
        "control took {control_s} s with the slots full"
    );

    // After the 5 s limit the server closes them (EOF or reset), within 10 s.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    match idle[0].read(&mut byte) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes to an unfinished request"),
        Err(error) => assert_ne!(error.kind(), ErrorKind::WouldBlock, "not closed in 10 s"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(idle);

    // An oversized head is refused, and the endpoint serves normally afterwards.
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Fill: {}\r\n", "a".repeat(6000));
    let refused = get(port, &huge);
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    let wrong = get(port, "POST /metrics HTTP/1.1\r\n\r\n");
    assert!(wrong.starts_with("HTTP/1.1 405"), "{wrong}");
    let garbage = get(port, "\x16\x03\x01 not http\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let started = Instant::now();
    let ok = loop {
        let response = get(port, "GET /metrics HTTP/1.1\r\n\r\n");
        if response.starts_with("HTTP/1.1 200 OK") || started.elapsed() > Duration::from_secs(10) {
            break response;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        ok.contains("gnomon_system_stratum"),
        "{ok}\n{}",
        gnomond.log()
    );
}
