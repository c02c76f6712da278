//! Attack suite, kill -9 during drift-file writes (issue 19 "What to build"): the
//! drift file is always a valid frequency and skew, the previous one or the new one,
//! never corrupt, however gnomond dies.
//!
//! gnomond writes its drift file when it exits (and every `driftfile ... interval`,
//! at least 60 s, while it runs), so each of the 30 rounds makes it write and kills
//! it in the middle: the real `gnomond -x` synchronises to a loopback responder, gets
//! SIGTERM (which starts the exit save: temporary file, write, fsync, rename) and
//! then SIGKILL after a delay that steps through 0..1.5 ms, so the kills land before,
//! during and after the write. After every round the file must read as valid
//! (`driftfile::read`, the daemon's own reader: present and valid, since a first
//! clean exit saved it), the next round starts from it, and the report says how many
//! rounds were killed and how many left the temporary file behind (a kill inside the
//! write).
//!
//! Loopback only, `-x` (no clock is changed); 30 rounds, each bounded (synchronising
//! within 20 s, the exit reaped at once); about 1 s a round.

use gnomon_daemon::driftfile;
use gnomon_testkit::chronyd::TempDir;
use gnomon_testkit::gnomond::Gnomond;
use gnomon_testkit::{Behaviour, Responder};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 30;
/// The SIGKILL follows SIGTERM after `round * STEP` (0 .. 1.45 ms: the exit save,
/// fsync included, takes about a millisecond on this ext4 /tmp).
const STEP: Duration = Duration::from_micros(50);

#[test]
fn kill_9_during_drift_writes_never_leaves_a_corrupt_file() {
    let dir = TempDir::new("drift-kill");
    let drift = dir.path().join("gnomond.drift");
    let temporary = drift.with_extension("tmp");
    let server = Responder::start(Behaviour::offset(0.0)).unwrap();
    let lines = [
        format!("driftfile {}", drift.display()),
        format!(
            "server 127.0.0.1 port {} iburst minpoll -2 maxpoll -2",
            server.address().port()
        ),
    ];
    let started = Instant::now();
    // A first clean exit saves the file, so every kill below has a file to spoil.
    let gnomond = Gnomond::start(&[], &lines);
    gnomond.wait_synchronized(Duration::from_secs(20));
    let status = gnomond.terminate(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}");
    assert!(matches!(driftfile::read(&drift), Ok(Some(_))), "not saved");
    let (mut killed, mut exited, mut temporary_left, mut rewritten) = (0, 0, 0, 0);
    for round in 0..ROUNDS {
        let before = std::fs::read(&drift).ok();
        let _ = std::fs::remove_file(&temporary);
        let gnomond = Gnomond::start(&[], &lines);
        gnomond.wait_synchronized(Duration::from_secs(20));
        let status = Command::new("kill")
            .args(["-TERM", &gnomond.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        std::thread::sleep(STEP * round);
        let status = gnomond.kill().expect("reaped");
        match status.signal() {
            Some(9) => killed += 1,
            None if status.success() => exited += 1,
            _ => panic!("round {round}: gnomond ended with {status}"),
        }
        if temporary.exists() {
            temporary_left += 1;
        }
        let after = std::fs::read(&drift).ok();
        if after.is_some() && after != before {
            rewritten += 1;
        }
        match driftfile::read(&drift) {
            Ok(Some(saved)) => {
                assert!(saved.frequency_ppm.abs() <= 500.0 && saved.skew_ppm >= 0.0);
            }
            Ok(None) => panic!("round {round}: the drift file disappeared"),
            Err(why) => panic!(
                "round {round} ({status}): corrupt drift file: {why}: {:?}",
                String::from_utf8_lossy(&after.unwrap_or_default())
            ),
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the soak took too long"
        );
    }
    eprintln!(
        "a clean save, then {ROUNDS} rounds in {:.1} s: {killed} killed by SIGKILL, {exited} exited first; \
         the file rewritten in {rewritten}, the temporary file left by {temporary_left}; \
         never corrupt",
        started.elapsed().as_secs_f64()
    );
}
