//! Where `gnomon fleet`'s hosts come from, and their addresses.
//!
//! Owns the host types, de-duplication, and resolving names to
//! addresses with a few threads. It must not send anything to the hosts; host lines
//! are [`super::host_lines`]'s, kubectl node lists come from [`super::kubectl`] as
//! ready-made [`HostSpec`]s.

use crate::address::{AddressFamily, ServerName};
use std::collections::HashSet;
use std::net::SocketAddr;

/// One host as the user (or kubectl) named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// `HOST[:PORT]` text to resolve.
    pub target: String,
    /// A name to show instead (a Kubernetes node name), with the target beside it.
    pub node_name: Option<String>,
}

impl HostSpec {
    pub fn plain(target: &str) -> HostSpec {
        HostSpec {
            target: target.to_owned(),
            node_name: None,
        }
    }
}

/// A host ready to measure: its label and address (or why it has none).
#[derive(Clone, Debug)]
pub struct Host {
    /// What the reports call it: `node → ip` for kubectl nodes, else the target.
    pub label: String,
    /// The `HOST` part, for ssh mode and reference-ID names.
    pub host: String,
    pub address: Result<SocketAddr, String>,
}

/// Drop repeated targets, keeping the first; returns how many were dropped.
pub fn dedup(specs: &mut Vec<HostSpec>) -> usize {
    let before = specs.len();
    let mut seen = HashSet::new();
    specs.retain(|spec| seen.insert(spec.target.clone()));
    before - specs.len()
}

/// Resolve every host (numeric addresses need no resolver) with up to `threads_max`
/// threads, keeping the input order.
pub fn resolve_all(
    specs: &[HostSpec],
    default_port: u16,
    family: AddressFamily,
    threads_max: usize,
) -> Vec<Host> {
    let resolve_one = |spec: &HostSpec| -> Host {
        let parsed = ServerName::parse(&spec.target, default_port);
        let host = parsed
            .as_ref()
            .map(|name| name.host.clone())
            .unwrap_or_else(|_| spec.target.clone());
        let address = parsed.and_then(|name| {
            name.resolve(family)
                .map(|addresses| addresses[0])
                .map_err(|message| message.to_string())
        });
        let label = match &spec.node_name {
            Some(node) => format!("{node} → {}", spec.target),
            None => spec.target.clone(),
        };
        Host {
            label,
            host,
            address,
        }
    };
    let threads = threads_max.clamp(1, 64).min(specs.len().max(1));
    let chunk = specs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(resolve_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("resolver thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_first_and_resolve_keeps_order() {
        let mut specs = vec![
            HostSpec::plain("127.0.0.1:5"),
            HostSpec::plain("127.0.0.2:5"),
            HostSpec::plain("127.0.0.1:5"),
            HostSpec::plain("[::1]:7"),
        ];
        assert_eq!(dedup(&mut specs), 1);
        let hosts = resolve_all(&specs, 123, AddressFamily::Any, 2);
        let addresses: Vec<String> = hosts
            .iter()
            .map(|h| h.address.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(addresses, ["127.0.0.1:5", "127.0.0.2:5", "[::1]:7"]);
        assert_eq!(hosts[2].host, "::1");
        let bad = resolve_all(&[HostSpec::plain("x:0")], 123, AddressFamily::Any, 1);
        assert!(bad[0].address.is_err());
    }
}
