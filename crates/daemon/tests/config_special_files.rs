//! Special files in the configuration (issue 19 item 8): a FIFO or a device named by
//! `include`, or lying in a `sourcedir`, is refused with a message naming the file, at
//! once: never a wait for a writer (which froze the main loop on `reload sources`) and
//! never a read until memory runs out (`include /dev/zero`). Config files are capped at
//! 1 MiB. Every wait here is bounded.

use gnomon_config::{load_source_dirs, Config, StdFs};
use gnomon_testkit::chronyd::TempDir;
use gnomon_testkit::gnomond::Gnomond;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// Run `work` on a thread and fail the test if it takes more than 5 s (a blocked open
/// would otherwise hang the test run).
fn within_5_s<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what}: still blocked after 5 s"))
}

fn include_error(target: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("gnomon.conf");
    std::fs::write(&main, format!("rtcsync\ninclude {}\n", target.display())).unwrap();
    let error = within_5_s("include", move || {
        Config::load(&main, &[]).expect_err("a special file was accepted")
    });
    assert_eq!(error.location().unwrap().line_number, 2, "{error}");
    error.to_string()
}

#[test]
fn include_of_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.conf");
    mkfifo(&fifo);
    let error = include_error(&fifo);
    assert!(
        error.contains(&fifo.display().to_string()) && error.contains("a FIFO"),
        "{error}"
    );
}

#[test]
fn include_of_dev_zero_is_refused_without_reading_it() {
    let error = include_error(Path::new("/dev/zero"));
    assert!(
        error.contains("/dev/zero") && error.contains("character device"),
        "{error}"
    );
}

#[test]
fn config_files_over_1_mib_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.conf");
    let mut text = "# padding\n".repeat((1 << 20) / 10);
    text.push_str("rtcsync\n");
    std::fs::write(&big, text).unwrap();
    let error = include_error(&big);
    assert!(error.contains("larger than 1048576 bytes"), "{error}");
    // The main file too.
    let error = Config::load(&big, &[]).unwrap_err().to_string();
    assert!(error.contains(&big.display().to_string()), "{error}");
}

#[test]
fn a_fifo_in_a_sourcedir_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let dhcp = dir.path().join("dhcp");
    std::fs::create_dir(&dhcp).unwrap();
    mkfifo(&dhcp.join("a-pipe.sources"));
    std::fs::write(dhcp.join("b-real.sources"), "server 10.0.0.2\n").unwrap();
    let dirs: Vec<Vec<PathBuf>> = vec![vec![dhcp.clone()]];
    let (sources, warnings) = within_5_s("sourcedir", move || load_source_dirs(&StdFs, &dirs));
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["10.0.0.2"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].file.ends_with("a-pipe.sources") && warnings[0].message.contains("a FIFO"),
        "{warnings:?}"
    );
}

/// The real daemon: a FIFO in its sourcedir neither delays the start nor freezes the
/// main loop on `reload sources`; the control socket answers throughout.
#[test]
fn gnomond_keeps_answering_with_a_fifo_in_its_sourcedir() {
    let dir = TempDir::new("sourcedir-fifo");
    let dhcp = dir.path().join("dhcp");
    std::fs::create_dir(&dhcp).unwrap();
    std::fs::write(dhcp.join("a.sources"), "server 127.0.0.1 port 9 offline\n").unwrap();
    // Gnomond::start fails if the control socket is not up within 10 s.
    let gnomond = Gnomond::start(&[], &[format!("sourcedir {}", dhcp.display())]);
    mkfifo(&dhcp.join("b.sources"));
    let gnomond = within_5_s("reload sources", move || {
        gnomond.control("reloadsources");
        gnomond
    });
    let tracking = within_5_s("tracking after reload", move || gnomond.control("tracking"));
    assert!(tracking["stratum"].is_number(), "{tracking}");
}
