//! Host lists as operators have them: `gnomon fleet --hosts FILE` and stdin.
//!
//! Owns the line syntax: several `HOST[:PORT]` words per line (`[v6]:port` too), `#`
//! comments, blank lines, and `kubectl get nodes` tables pasted or piped with or without
//! their header (`NAME STATUS ROLES AGE VERSION [INTERNAL-IP ...]`): a table row gives its
//! node, by its INTERNAL-IP when the table has one, and no header word is ever taken for
//! a host (so `NAME` never reaches the resolver). Every word is checked here, so a bad
//! port is a usage error naming the file and line, before anything is resolved or sent.

use super::hosts::HostSpec;
use crate::address::ServerName;
use std::io::BufRead;
use std::net::IpAddr;

/// The STATUS column of `kubectl get nodes`: tells a table row from a line of hosts.
fn is_node_status(word: &str) -> bool {
    word.split(',')
        .next()
        .is_some_and(|status| matches!(status, "Ready" | "NotReady" | "Unknown"))
}

/// Where the columns of a `kubectl get nodes` table are, from its header.
#[derive(Clone, Copy, Debug, Default)]
struct TableLayout {
    internal_ip_column: Option<usize>,
}

/// One table row as a host: the node by its InternalIP when known, else by name.
fn table_row(words: &[&str], layout: TableLayout) -> HostSpec {
    let name = words[0];
    let internal_ip = layout
        .internal_ip_column
        .or(Some(5)) // `-o wide` without a header: INTERNAL-IP is the sixth column.
        .and_then(|column| words.get(column))
        .filter(|word| word.parse::<IpAddr>().is_ok());
    match internal_ip {
        Some(ip) if ip.contains(':') => HostSpec {
            target: format!("[{ip}]"),
            node_name: Some(name.to_owned()),
        },
        Some(ip) => HostSpec {
            target: (*ip).to_owned(),
            node_name: Some(name.to_owned()),
        },
        None => HostSpec::plain(name),
    }
}

/// Check one word as `HOST[:PORT]`; the error names where it came from.
fn checked(word: &str, at: &str, default_port: u16) -> Result<HostSpec, String> {
    if word.contains('/') {
        return Err(format!(
            "{at}: '{word}' is not HOST[:PORT] (a subnet cannot be measured; list its hosts)"
        ));
    }
    ServerName::parse(word, default_port)
        .map_err(|message| format!("{at}: {message}"))
        .map(|_| HostSpec::plain(word))
}

/// Read host lines (see the module doc). Errors are usage errors naming `origin:line`.
pub fn parse(
    reader: impl BufRead,
    origin: &str,
    default_port: u16,
) -> Result<Vec<HostSpec>, String> {
    let mut specs = Vec::new();
    let mut layout: Option<TableLayout> = None;
    for (index, line) in reader.lines().enumerate() {
        let at = format!("{origin}:{}", index + 1);
        let line = line.map_err(|error| format!("{at}: {error}"))?;
        let line = line.strip_prefix('\u{feff}').unwrap_or(&line);
        let text = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "NAME" && words.get(1) == Some(&"STATUS") {
            layout = Some(TableLayout {
                internal_ip_column: words.iter().position(|word| *word == "INTERNAL-IP"),
            });
            continue;
        }
        if words.len() >= 2 && (layout.is_some() || is_node_status(words[1])) {
            let spec = table_row(&words, layout.unwrap_or_default());
            checked(&spec.target, &at, default_port)?;
            specs.push(spec);
            continue;
        }
        for word in words {
            specs.push(checked(word, &at, default_port)?);
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(text: &str) -> Vec<String> {
        parse(text.as_bytes(), "hosts.txt", 123)
            .unwrap()
            .iter()
            .map(|spec| match &spec.node_name {
                Some(node) => format!("{node}={}", spec.target),
                None => spec.target.clone(),
            })
            .collect()
    }

    #[test]
    fn several_hosts_per_line_comments_and_v6_ports() {
        let text = "# fleet\n10.0.0.1 10.0.0.2:1123\n\n  [fd00::5]:124 ::1  # v6\nnode-a\n";
        assert_eq!(
            targets(text),
            [
                "10.0.0.1",
                "10.0.0.2:1123",
                "[fd00::5]:124",
                "::1",
                "node-a"
            ]
        );
        assert_eq!(targets("\u{feff}10.0.0.9\n"), ["10.0.0.9"]);
    }

    #[test]
    fn kubectl_tables_with_and_without_header() {
        let plain = "NAME      STATUS   ROLES           AGE   VERSION\n\
                     node-a    Ready    control-plane   10d   v1.28.3\n\
                     node-b    NotReady <none>          10d   v1.28.3\n";
        assert_eq!(targets(plain), ["node-a", "node-b"]);
        let headless = "node-c Ready,SchedulingDisabled <none> 3d v1.28.3\n";
        assert_eq!(targets(headless), ["node-c"]);
        let wide = "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE\n\
                    node-a Ready <none> 10d v1.28.3 172.31.44.125 <none> Ubuntu 22.04\n\
                    node-6 Ready <none> 10d v1.28.3 fd00::6 <none> Ubuntu 22.04\n";
        assert_eq!(targets(wide), ["node-a=172.31.44.125", "node-6=[fd00::6]"]);
        let headless_wide = "node-a Ready <none> 10d v1.28.3 172.31.44.125 <none> Ubuntu\n";
        assert_eq!(targets(headless_wide), ["node-a=172.31.44.125"]);
    }

    #[test]
    fn bad_words_are_errors_with_file_and_line() {
        let error = parse("10.0.0.1\n127.0.0.1:99999\n".as_bytes(), "h", 123).unwrap_err();
        assert!(error.starts_with("h:2: "), "{error}");
        assert!(error.contains("invalid port '99999'"), "{error}");
        let error = parse("10.0.0.0/8\n".as_bytes(), "h", 123).unwrap_err();
        assert!(error.contains("h:1"), "{error}");
    }
}
