//! docs/config.md lists every directive of the catalogue and every source option.

use gnomon_config::directives::{OBSOLETE, SUPPORTED, UNSUPPORTED};

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");
    std::fs::read_to_string(path).expect("docs/config.md is readable")
}

#[test]
fn every_directive_is_documented() {
    let doc = reference();
    let missing: Vec<&str> = SUPPORTED
        .iter()
        .chain(UNSUPPORTED)
        .chain(OBSOLETE)
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .copied()
        .collect();
    assert!(missing.is_empty(), "not in docs/config.md: {missing:?}");
}

#[test]
fn every_source_option_is_documented() {
    let doc = reference();
    for option in [
        "iburst",
        "burst",
        "prefer",
        "noselect",
        "trust",
        "require",
        "minpoll",
        "maxpoll",
        "port",
        "maxdelay",
        "maxdelayratio",
        "maxdelaydevratio",
        "maxsources",
        "minstratum",
        "polltarget",
        "offset",
        "minsamples",
        "maxsamples",
        "ipv4",
        "ipv6",
        "xleave",
        "presend",
        "filter",
        "asymmetry",
        "mindelay",
        "maxdelayquant",
        "version",
        "offline",
        "auto_offline",
        "copy",
        "extfield",
        "certset",
        "ntsport",
        "nts",
        "key",
    ] {
        assert!(
            doc.contains(&format!("`{option}`")),
            "{option} not documented"
        );
    }
}
