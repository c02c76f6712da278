//! Issue 17, "What was seen" 4: gnomon's views line by line against chronyc 4.3 on the
//! same topology (one loopback responder and one address nobody answers on, polled by
//! `chronyd -x` and `gnomond -x` alike). Fails when chronyd or chronyc is missing.

use gnomon_testkit::chronyd::Chronyd;
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn chronyc(socket: &Path, command: &str) -> String {
    let output = Command::new("chronyc")
        .args(["-n", "-h"])
        .arg(socket)
        .arg(command)
        .output()
        .expect("chronyc (chrony 4.3) must be installed");
    assert!(output.status.success(), "chronyc {command}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn gnomon(socket: &Path, command: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_gnomon"))
        .arg("--socket")
        .arg(socket)
        .arg(command)
        .output()
        .unwrap();
    assert!(output.status.success(), "gnomon {command}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn line_of<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
}

#[test]
fn sourcestats_matches_chronyc_for_answering_and_silent_sources() {
    let responder = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = responder.address().port();
    let lines = [
        format!("server 127.0.0.1 port {port} minpoll -2 maxpoll -2"),
        format!("server 127.0.0.2 port {port} minpoll -2 maxpoll -2"),
    ];
    let chronyd = Chronyd::start(&lines.join("\n"));
    let gnomond = Gnomond::start(&["-4"], &lines);
    std::thread::sleep(Duration::from_secs(4));
    let theirs = chronyc(&chronyd.socket_path(), "sourcestats");
    let ours = gnomon(&gnomond.socket_path(), "sourcestats");
    let (their_lines, our_lines): (Vec<&str>, Vec<&str>) =
        (theirs.lines().collect(), ours.lines().collect());
    assert_eq!(
        our_lines[..2],
        their_lines[..2],
        "headers\nours:\n{ours}\ntheirs:\n{theirs}"
    );
    // The silent source: no samples, chronyd's initial figures, to the character.
    assert_eq!(
        line_of(&ours, "127.0.0.2"),
        line_of(&theirs, "127.0.0.2"),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    // The answering one: same columns, signed frequency and offset.
    let (our_row, their_row) = (line_of(&ours, "127.0.0.1"), line_of(&theirs, "127.0.0.1"));
    assert_eq!(
        our_row.len(),
        their_row.len(),
        "ours: {our_row}\ntheirs: {their_row}"
    );
    for row in [our_row, their_row] {
        let words: Vec<&str> = row.split_whitespace().collect();
        assert!(
            words[4].starts_with(['+', '-']),
            "frequency unsigned: {row}"
        );
        assert!(words[6].starts_with(['+', '-']), "offset unsigned: {row}");
    }
}

#[test]
fn unsynchronised_tracking_matches_chronyc() {
    let silent = Responder::start(Behaviour::Silent).unwrap();
    let line = format!(
        "server 127.0.0.1 port {} minpoll -2 maxpoll -2",
        silent.address().port()
    );
    let chronyd = Chronyd::start(&line);
    let gnomond = Gnomond::start(&["-4"], &[&line]);
    std::thread::sleep(Duration::from_secs(1));
    let theirs = chronyc(&chronyd.socket_path(), "tracking");
    let ours = gnomon(&gnomond.socket_path(), "tracking");
    assert_eq!(ours, theirs, "ours:\n{ours}\ntheirs:\n{theirs}");
}

#[test]
fn pool_members_show_their_own_addresses() {
    let live = Responder::start(Behaviour::offset(0.0)).unwrap();
    let port = live.address().port();
    let pool = format!("pool time.pool.test port {port} maxsources 2 minpoll -2 maxpoll -2");
    let gnomond = Gnomond::start(
        &["-4", "--resolve", "time.pool.test=127.0.0.1,127.0.0.3"],
        &[&pool],
    );
    for view in ["sources", "sourcestats"] {
        let text = gnomon(&gnomond.socket_path(), view);
        assert!(!text.contains("time.pool.test"), "{view}:\n{text}");
        assert!(text.contains("127.0.0.1 "), "{view}:\n{text}");
        assert!(text.contains("127.0.0.3"), "{view}:\n{text}");
    }
}

/// "Update interval" of `tracking`: chronyd updates the clock when the reference has a
/// new sample, so with two sources polled each second it shows about 1 s (gnomond
/// showed 0.0: it updated on every source's sample, a moment apart).
#[test]
fn update_interval_is_the_references_as_chronyc_shows_it() {
    let first = Responder::start(Behaviour::offset(0.0)).unwrap();
    let second = Responder::start(Behaviour::offset(0.0)).unwrap();
    let lines: Vec<String> = [&first, &second]
        .iter()
        .map(|r| {
            format!(
                "server 127.0.0.1 port {} iburst minpoll 0 maxpoll 0",
                r.address().port()
            )
        })
        .collect();
    let chronyd = Chronyd::start(&lines.join("\n"));
    let gnomond = Gnomond::start(&["-4"], &lines);
    std::thread::sleep(Duration::from_secs(7));
    let interval = |text: &str| -> f64 {
        line_of(text, "Update interval")
            .trim_start_matches("Update interval : ")
            .trim_end_matches(" seconds")
            .parse()
            .unwrap_or_else(|_| panic!("{text}"))
    };
    // Five readings of each, 0.4 s apart: on a loaded machine one poll can come late
    // or one sample be rejected, and either daemon then shows 2 s once.
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        theirs.push(interval(&chronyc(&chronyd.socket_path(), "tracking")));
        ours.push(interval(&gnomon(&gnomond.socket_path(), "tracking")));
        std::thread::sleep(Duration::from_millis(400));
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (their_s, our_s) = (median(&mut theirs), median(&mut ours));
    assert!((0.8..=1.3).contains(&their_s), "chronyd: {theirs:?}");
    assert!(
        (0.8..=1.3).contains(&our_s),
        "ours {ours:?} vs chronyd {theirs:?}"
    );
}
