//! Attack suite, metrics slowloris (issue 19 item 4): 200 connections that drip one
//! byte at a time and reconnect when closed must not starve a real scrape: each scrape
//! gets a complete 200 answer within 2 s. Before, 200 drippers for 20 s let 2 scrapes
//! through, taking 10.0 s and 9.0 s (16 slots, a 16-deep backlog, 5 s per connection).
//! Loopback only, gnomond -x; 200 connections, about 8 s, every wait bounded.

mod serving;

use gnomon_testkit::chronyd::free_tcp_port;
use serving::Gnomond;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DRIPPERS: usize = 200;
const DRIP: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";

fn connect(port: u16) -> Option<TcpStream> {
    let stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// The drippers: one thread keeps `DRIPPERS` connections, each sending one more byte
/// of a never-ending head every 100 ms, reconnecting when the server closes one.
fn drip(port: u16, stop: Arc<AtomicBool>, reconnects: Arc<AtomicU64>) {
    let mut streams: Vec<(Option<TcpStream>, usize)> =
        (0..DRIPPERS).map(|_| (connect(port), 0)).collect();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
        for (stream, sent) in &mut streams {
            let byte = if *sent < DRIP.len() {
                DRIP[*sent]
            } else {
                b'a'
            };
            let alive = stream.as_mut().is_some_and(|s| match s.write(&[byte]) {
                Ok(_) => true,
                Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
            });
            if alive {
                *sent += 1;
            } else {
                *stream = connect(port);
                *sent = 0;
                reconnects.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn scrape(port: u16) -> (Duration, String) {
    let started = Instant::now();
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))
    else {
        return (started.elapsed(), "connect failed".into());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    (started.elapsed(), response)
}

#[test]
fn a_scrape_succeeds_within_2_s_among_200_drip_feeders() {
    let port = free_tcp_port();
    let gnomond = Gnomond::start(
        &["-4"],
        &[
            format!("metrics 127.0.0.1:{port}"),
            "local stratum 5".into(),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicU64::new(0));
    let dripper = {
        let (stop, reconnects) = (stop.clone(), reconnects.clone());
        std::thread::spawn(move || drip(port, stop, reconnects))
    };
    std::thread::sleep(Duration::from_millis(1500));
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(scrape(port));
        std::thread::sleep(Duration::from_millis(700));
    }
    // The control socket was not held up either.
    let started = Instant::now();
    assert!(gnomond.control("tracking")["stratum"].is_number());
    let control_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    dripper.join().unwrap();
    let summary: Vec<String> = results
        .iter()
        .map(|(took, response)| {
            format!(
                "{:.3} s {}",
                took.as_secs_f64(),
                response.lines().next().unwrap_or("(nothing)")
            )
        })
        .collect();
    eprintln!(
        "scrapes among {DRIPPERS} drippers ({} reconnects): {summary:?}; control {control_s:.3} s",
        reconnects.load(Ordering::Relaxed)
    );
    for (took, response) in &results {
        assert!(
            response.starts_with("HTTP/1.1 200 OK") && response.contains("gnomon_system_stratum"),
            "{summary:?}"
        );
        assert!(*took < Duration::from_secs(2), "{summary:?}");
    }
    assert!(control_s < 1.0, "control took {control_s} s");
}
