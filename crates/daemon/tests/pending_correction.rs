//! A source ten years away without makestep (issue 19 items 5 and 6): `tracking` says
//! the clock is ten years slow (it said 165,191,049.8 s, a saturated slew), its
//! `error_bound_s` holds the correction still pending (it left it out), the metrics
//! report the same bound (one function), and the clockbound file's interval, as
//! `gnomon now` reads it, contains the source's time. gnomond -x: no clock is changed;
//! loopback only; every wait is bounded.

use gnomon_clock::ClockBound;
use gnomon_testkit::chronyd::{free_tcp_port, TempDir};
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const OFFSET_S: f64 = 315_360_000.0;

fn metric(port: u16, name: &str) -> f64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
}

#[test]
fn a_ten_year_correction_is_reported_and_bounded() {
    let server = Responder::start(Behaviour::offset(OFFSET_S)).unwrap();
    let dir = TempDir::new("pending");
    let clockbound = dir.path().join("clockbound");
    let metrics_port = free_tcp_port();
    let gnomond = Gnomond::start(
        &[],
        &[
            format!(
                "server 127.0.0.1 port {} iburst minpoll -2 maxpoll -2",
                server.address().port()
            ),
            format!("metrics 127.0.0.1:{metrics_port}"),
            format!("clockbound {}", clockbound.display()),
        ],
    );
    let tracking = gnomond.wait_synchronized(Duration::from_secs(30));
    let system_time_s = tracking["system_time_offset_s"].as_f64().unwrap();
    // Slow by ten years, less what a few seconds at 8.3 % have slewed.
    assert!(
        (system_time_s + OFFSET_S).abs() < 60.0,
        "System time {system_time_s} s: {tracking}"
    );
    let bound_s = tracking["error_bound_s"].as_f64().unwrap();
    assert!(bound_s >= -system_time_s, "bound {bound_s}: {tracking}");
    assert!(
        bound_s < -system_time_s + 1.0,
        "bound {bound_s}: {tracking}"
    );

    let metric_bound_s = metric(metrics_port, "gnomon_system_error_bound_seconds");
    assert!(
        (metric_bound_s - bound_s).abs() < 60.0 && metric_bound_s >= OFFSET_S - 60.0,
        "metrics {metric_bound_s} vs tracking {bound_s}"
    );

    // As `gnomon now` reads it: the interval holds the source's time.
    let reader = ClockBound::open(&clockbound);
    let mut now = reader.now();
    for _ in 0..50 {
        if now.bound_ns.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        now = reader.now();
    }
    let truth_ns = now.clock_ns as f64 + OFFSET_S * 1e9;
    assert!(
        now.bound_ns.is_some()
            && now.earliest_ns as f64 <= truth_ns
            && truth_ns <= now.latest_ns as f64,
        "{now:?} does not hold {truth_ns}"
    );
}
