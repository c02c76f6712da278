//! include, confdir and sourcedir on real temporary directories.

use std::fs;
use std::path::{Path, PathBuf};

use gnomon_config::{Config, ParsedConfig};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn load(main: &Path) -> ParsedConfig {
    Config::load(main, &[]).unwrap()
}

fn names(parsed: &ParsedConfig) -> Vec<String> {
    parsed
        .config
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn include_glob_in_sorted_order_and_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("inc/b.conf"), "server b.example\n");
    write(&root.join("inc/a.conf"), "server a.example\n");
    write(&root.join("inc/.hidden.conf"), "server hidden.example\n");
    write(&root.join("inc/c.conf.bak"), "server bak.example\n");
    let main = root.join("gnomon.conf");
    write(
        &main,
        &format!(
            "server first.example\ninclude {}/inc/*.conf\nserver last.example\n",
            root.display()
        ),
    );
    let parsed = load(&main);
    assert_eq!(
        names(&parsed),
        ["first.example", "a.example", "b.example", "last.example"]
    );
    let origin = &parsed.config.sources[1].origin;
    assert_eq!(origin.origin, root.join("inc/a.conf").display().to_string());
    assert_eq!(origin.line_number, 1);
}

#[test]
fn include_pattern_matching_nothing_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("gnomon.conf");
    write(
        &main,
        &format!("include {}/none/*.conf\nrtcsync\n", dir.path().display()),
    );
    assert!(load(&main).config.rtc_sync);
}

#[test]
fn include_wildcards_in_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("d1/x.conf"), "server d1.example\n");
    write(&root.join("d2/x.conf"), "server d2.example\n");
    let main = root.join("gnomon.conf");
    write(&main, &format!("include {}/d?/x.conf\n", root.display()));
    assert_eq!(names(&load(&main)), ["d1.example", "d2.example"]);
}

#[test]
fn confdir_sorts_by_name_and_first_directory_wins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("vendor/10-pool.conf"),
        "pool vendor.pool.example\n",
    );
    write(
        &root.join("vendor/20-extra.conf"),
        "server vendor-extra.example\n",
    );
    write(
        &root.join("local/10-pool.conf"),
        "pool local.pool.example\n",
    );
    write(
        &root.join("local/15-mid.conf"),
        "server local-mid.example\n",
    );
    write(&root.join("local/notes.txt"), "not a config\n");
    let main = root.join("gnomon.conf");
    write(
        &main,
        &format!("confdir {0}/local {0}/vendor {0}/missing\n", root.display()),
    );
    assert_eq!(
        names(&load(&main)),
        [
            "local.pool.example",
            "local-mid.example",
            "vendor-extra.example"
        ]
    );
}

#[test]
fn sourcedir_is_read_after_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("dhcp/eth0.sources"),
        "# from DHCP\nserver 10.0.0.2 iburst\nPOOL dhcp.pool.example maxsources 2\n",
    );
    write(
        &root.join("dhcp/eth1.sources"),
        "server 10.1.0.2\nserver 10.1.0.3",
    );
    write(
        &root.join("dhcp/eth2.sources"),
        "peer 10.2.0.9\nmakestep 1 3\nserver 10.2.0.2 minpoll x\nserver 10.2.0.3 nts\n",
    );
    let main = root.join("gnomon.conf");
    write(
        &main,
        &format!(
            "sourcedir {}/dhcp\nserver configured.example\n",
            root.display()
        ),
    );
    let parsed = load(&main);
    assert_eq!(
        names(&parsed),
        [
            "configured.example",
            "10.0.0.2",
            "dhcp.pool.example",
            "10.1.0.2"
        ]
    );
    assert!(parsed.config.sources[1..].iter().all(|s| s.from_sourcedir));
    assert_eq!(parsed.config.sources[2].maxsources, 2);
    assert_eq!(parsed.config.source_dirs, vec![vec![root.join("dhcp")]]);

    let eth1 = root.join("dhcp/eth1.sources").display().to_string();
    let eth2 = root.join("dhcp/eth2.sources").display().to_string();
    let seen: Vec<(String, usize, String)> = parsed
        .warnings
        .iter()
        .map(|w| (w.file.clone(), w.line, w.directive.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (eth1.clone(), 2, "sourcedir".to_string()),
            (eth2.clone(), 1, "peer".to_string()),
            (eth2.clone(), 2, "makestep".to_string()),
            (eth2.clone(), 3, "server".to_string()),
            (eth2.clone(), 4, "server".to_string()),
        ]
    );
    assert!(parsed.warnings[0].message.contains("no newline"));
    assert!(parsed.warnings[3]
        .message
        .contains("invalid minpoll value \"x\""));
    assert!(parsed.warnings[4].message.contains("NTS"));
}

#[test]
fn unreadable_included_file_is_an_error_at_the_include_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let main = root.join("gnomon.conf");
    let missing: PathBuf = root.join("missing.conf");
    write(&main, &format!("rtcsync\ninclude {}\n", missing.display()));
    let err = Config::load(&main, &[]).unwrap_err();
    assert_eq!(err.location().unwrap().line_number, 2);
    assert!(err
        .to_string()
        .contains(&format!("cannot read {}: No such file", missing.display())));
}

#[test]
fn sources_can_be_reloaded() {
    use gnomon_config::{load_source_dirs, StdFs};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("dhcp/eth0.sources"), "server 10.0.0.2\n");
    let main = root.join("gnomon.conf");
    write(&main, &format!("sourcedir {}/dhcp\n", root.display()));
    let config = load(&main).config;
    assert_eq!(config.sources[0].name, "10.0.0.2");

    // A DHCP hook rewrites the file; the daemon reloads the same directories.
    write(
        &root.join("dhcp/eth0.sources"),
        "server 10.0.0.3\nserver 10.0.0.4\n",
    );
    let (sources, warnings) = load_source_dirs(&StdFs, &config.source_dirs);
    assert!(warnings.is_empty());
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["10.0.0.3", "10.0.0.4"]);
}
