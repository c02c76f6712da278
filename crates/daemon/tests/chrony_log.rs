//! Issue 17 item 4: gnomond logs chronyd's operational messages, in chronyd 4.3's words,
//! at the same moments, and no ANSI colour codes into a file. The wording is checked
//! against chronyd 4.3 itself (`chronyd -x`) on the same loopback responder; the test
//! fails when chronyd is missing.

use gnomon_testkit::chronyd::Chronyd;
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use std::time::{Duration, Instant};

/// Wait until `log()` has a line containing `needle`; returns that line.
fn wait_line(log: impl Fn() -> String, needle: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Some(line) = log().lines().find(|line| line.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            started.elapsed() < limit,
            "no {needle:?} within {limit:?}; log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text after chronyd's or gnomond's timestamp and level.
fn message(line: &str) -> &str {
    line.find(needle_start(line)).map_or(line, |at| &line[at..])
}

fn needle_start(line: &str) -> &str {
    [
        "Selected source",
        "System clock",
        "Can't synchronise",
        "Source ",
    ]
    .into_iter()
    .find(|start| line.contains(start))
    .unwrap_or("")
}

#[test]
fn selection_and_step_are_logged_as_chronyd_logs_them() {
    let responder = Responder::start(Behaviour::offset(0.3)).unwrap();
    let port = responder.address().port();
    let source = format!("server 127.0.0.1 port {port} iburst minpoll 0 maxpoll 0");
    let chronyd = Chronyd::start(&format!("{source}\nmakestep 0.1 3\n"));
    let gnomond = Gnomond::start(&["-4"], &[source.as_str(), "makestep 0.1 3"]);
    let limit = Duration::from_secs(30);

    let theirs = wait_line(|| chronyd.log(), "Selected source", limit);
    let ours = wait_line(|| gnomond.log(), "Selected source", limit);
    assert_eq!(
        message(&ours),
        message(&theirs),
        "ours: {ours}\ntheirs: {theirs}"
    );
    assert_eq!(message(&ours), "Selected source 127.0.0.1");

    // A client 0.3 s behind is stepped forward, once, with the figure.
    let step = wait_line(|| gnomond.log(), "System clock was stepped by", limit);
    let figure: f64 = message(&step)
        .trim_start_matches("System clock was stepped by ")
        .trim_end_matches(" seconds")
        .parse()
        .unwrap_or_else(|_| panic!("no figure in {step:?}"));
    assert!((figure - 0.3).abs() < 0.01, "{step}");

    let log = gnomond.log();
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file:\n{log}");
}

#[test]
fn losing_every_source_is_logged_once() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = responder.address().port();
    let source = format!("server 127.0.0.1 port {port} iburst minpoll -2 maxpoll -2");
    let gnomond = Gnomond::start(&["-4"], &[source.as_str()]);
    wait_line(
        || gnomond.log(),
        "Selected source 127.0.0.1",
        Duration::from_secs(30),
    );
    drop(responder);
    let line = wait_line(
        || gnomond.log(),
        "Can't synchronise",
        Duration::from_secs(30),
    );
    assert_eq!(message(&line), "Can't synchronise: no selectable sources");
    std::thread::sleep(Duration::from_secs(1));
    let count = gnomond
        .log()
        .lines()
        .filter(|line| line.contains("Can't synchronise"))
        .count();
    assert_eq!(count, 1, "{}", gnomond.log());
}

#[test]
fn offline_and_online_are_logged_as_chronyd_logs_them() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = responder.address().port();
    let source = format!("server 127.0.0.1 port {port} minpoll 0 maxpoll 0");
    let chronyd = Chronyd::start(&source);
    let gnomond = Gnomond::start(&["-4"], &[source.as_str()]);
    let limit = Duration::from_secs(10);
    for (word, command) in [("offline", "offline"), ("online", "online")] {
        let status = std::process::Command::new("chronyc")
            .arg("-h")
            .arg(chronyd.socket_path())
            .arg(command)
            .output()
            .expect("chronyc (chrony 4.3) must be installed");
        assert!(status.status.success(), "chronyc {command}: {status:?}");
        gnomond.control(command);
        let theirs = wait_line(|| chronyd.log(), &format!("Source 127.0.0.1 {word}"), limit);
        let ours = wait_line(|| gnomond.log(), &format!("Source 127.0.0.1 {word}"), limit);
        assert_eq!(
            message(&ours),
            message(&theirs),
            "ours: {ours}\ntheirs: {theirs}"
        );
    }
}

#[test]
fn a_replaced_pool_member_is_logged_as_chronyd_logs_it() {
    let live = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = live.address().port();
    let pool = format!("pool time.pool.test port {port} maxsources 1 iburst minpoll -3 maxpoll -3");
    // 127.0.0.2 has nothing on that port: the first member never answers.
    let gnomond = Gnomond::start(
        &["-4", "--resolve", "time.pool.test=127.0.0.2,127.0.0.1"],
        &[pool.as_str()],
    );
    let line = wait_line(|| gnomond.log(), "replaced with", Duration::from_secs(15));
    assert_eq!(
        message(&line),
        "Source 127.0.0.2 replaced with 127.0.0.1 (time.pool.test)"
    );
}

#[test]
fn two_disagreeing_sources_are_no_majority_as_chronyd_says() {
    // Two addresses: chronyd takes one source per address.
    let near = Responder::start_on("127.0.0.1:0".parse().unwrap(), Behaviour::offset(0.0)).unwrap();
    let far = Responder::start_on("127.0.0.3:0".parse().unwrap(), Behaviour::offset(2.0)).unwrap();
    let lines: Vec<String> = [&near, &far]
        .iter()
        .map(|r| {
            format!(
                "server {} port {} iburst minpoll -2 maxpoll -2",
                r.address().ip(),
                r.address().port()
            )
        })
        .collect();
    let chronyd = Chronyd::start(&lines.join("\n"));
    let gnomond = Gnomond::start(&["-4"], &lines);
    let limit = Duration::from_secs(20);
    let theirs = wait_line(|| chronyd.log(), "Can't synchronise", limit);
    let ours = wait_line(|| gnomond.log(), "Can't synchronise", limit);
    assert_eq!(
        message(&ours),
        message(&theirs),
        "ours: {ours}\ntheirs: {theirs}"
    );
    assert_eq!(message(&ours), "Can't synchronise: no majority");
}
