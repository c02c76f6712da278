//! The metrics endpoint and the clockbound file, end to end on loopback: a real
//! Prometheus (Debian's `prometheus`, run as a child with its own config, storage and
//! a loopback port, killed by PID) scrapes `gnomond -x`, a client of `chronyd -x`, and
//! PromQL through its HTTP API returns the offset and the synchronized flag;
//! `promtool check metrics` accepts the text; gnomon-clock reads the published bound.

use gnomon_clock::{ClockBound, Status};
use gnomon_testkit::chronyd::{free_tcp_port, Chronyd, TempDir};
use gnomon_testkit::gnomond::Gnomond;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One HTTP/1.1 GET on loopback: (status line, body).
fn http_get(port: u16, path_and_query: &str, accept: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?.to_owned();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// A Prometheus server child, killed by PID on drop.
struct Prometheus {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let port = free_tcp_port();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: gnomond\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package `prometheus`; scripts/test.sh installs it)");
        Prometheus { child, port, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The value of an instant PromQL query's first result.
    fn query(&self, promql: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={promql}");
        let (status, body) = http_get(self.port, &path, "application/json")?;
        if !status.contains(" 200 ") {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_gnomond_and_gnomon_clock_reads_its_bound() {
    let upstream = Chronyd::local_stratum(1);
    let metrics_port = free_tcp_port();
    let bound_dir = TempDir::new("clockbound");
    let bound_path = bound_dir.path().join("clockbound");
    let source = format!(
        "server 127.0.0.1 port {} iburst minpoll 0 maxpoll 0",
        upstream.port()
    );
    let metrics = format!("metrics 127.0.0.1:{metrics_port}");
    let clockbound = format!("clockbound {}", bound_path.display());
    let gnomond = Gnomond::start(&["-4"], &[&source, &metrics, &clockbound]);

    // gnomond's own endpoint: synchronised within 30 s.
    let started = Instant::now();
    let classic = loop {
        let got = http_get(metrics_port, "/metrics", "*/*");
        if let Some((_, body)) = &got {
            if sample(body, "gnomon_system_synchronized") == Some(1.0) {
                break body.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not synchronised: {got:?}\n{}",
            gnomond.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(classic.contains("gnomon_build_info{version="), "{classic}");
    assert!(classic.contains("# TYPE gnomon_server_requests_received_total counter"));
    assert!(classic.contains("gnomon_source_reachability{"), "{classic}");

    // Every exported metric is documented.
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap();
    for line in classic.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} is not in docs/metrics.md"
            );
        }
    }

    // promtool accepts the classic text (and lints it clean).
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(classic.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{classic}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // OpenMetrics on request; bad requests are refused.
    let (status, openmetrics) =
        http_get(metrics_port, "/metrics", "application/openmetrics-text").unwrap();
    assert!(
        status.contains(" 200 ") && openmetrics.ends_with("# EOF\n"),
        "{status}"
    );
    let (status, _) = http_get(metrics_port, "/nothing", "*/*").unwrap();
    assert!(status.contains(" 404 "), "{status}");

    // A real Prometheus scrapes it; PromQL returns the offset and the flag.
    let prometheus = Prometheus::start(metrics_port);
    let started = Instant::now();
    let (synchronized, offset_s) = loop {
        let synchronized = prometheus.query("gnomon_system_synchronized");
        let offset_s = prometheus.query("gnomon_system_offset_seconds");
        if let (Some(synchronized), Some(offset_s)) = (synchronized, offset_s) {
            break (synchronized, offset_s);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no data in Prometheus; its log:\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(synchronized, 1.0);
    assert!(offset_s.abs() < 0.1, "offset {offset_s}");
    let up = prometheus.query("up%7Bjob%3D%22gnomond%22%7D");
    assert_eq!(up, Some(1.0));

    // The bound, as an application sees it.
    let reader = ClockBound::open(&bound_path);
    let now = reader.now();
    assert_eq!(now.status, Status::Synchronized, "{now:?}");
    let bound_ns = now.bound_ns.unwrap();
    assert!(bound_ns > 0 && bound_ns < 1_000_000_000, "{now:?}");
    assert!(now.earliest_ns < now.clock_ns && now.clock_ns < now.latest_ns);

    // A clean stop leaves "unknown", never a bound nobody maintains.
    let exit = gnomond
        .terminate(Duration::from_secs(10))
        .expect("gnomond exits");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(reader.now().status, Status::Unknown);
    assert_eq!(reader.now().bound_ns, None);
}
