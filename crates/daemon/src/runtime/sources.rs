//! The daemon's side of each time source: its name, address and socket.
//!
//! Owns resolving `server`/`pool` names (getaddrinfo through glibc), one connected UDP
//! socket per server with a random source port and kernel timestamps, and the
//! bookkeeping that matches TX timestamps to requests. No per-interface sockets: the
//! kernel routes, so interfaces that come and go (container veths, IPv6 link-local)
//! never disturb a source. The engine decides when to send; this only carries bytes.

use crate::control::views::SourceLabel;
use gnomon_config::{AddressFamily, SourceConfig, SourceKind};
use gnomon_core::source::SourceId;
use gnomon_proto::ReferenceId;
use gnomon_sys::socket::{TimestampSupport, UdpSocket};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// One source's network side.
pub struct SourceSlot {
    pub id: SourceId,
    pub name: String,
    pub address: SocketAddr,
    pub from_pool: bool,
    /// Which `server`/`pool` line of the configuration it came from.
    pub config_index: usize,
    pub socket: UdpSocket,
    /// Sends so far on this socket: the index of the next TX timestamp.
    pub sends: u32,
    /// The send index of the request whose TX timestamp the engine still wants.
    pub awaiting_tx_index: Option<u32>,
}

impl SourceSlot {
    pub fn label(&self) -> SourceLabel {
        SourceLabel {
            id: self.id,
            name: self.name.clone(),
            address: self.address.ip().to_string(),
            from_pool: self.from_pool,
        }
    }
}

/// Resolve a source's name to the addresses it should use: the first for a server,
/// up to `maxsources` for a pool.
pub fn resolve(
    source: &SourceConfig,
    daemon_family: AddressFamily,
    overrides: &[(String, Vec<IpAddr>)],
) -> Result<Vec<SocketAddr>, String> {
    let mut unique = resolve_all(source, daemon_family, overrides)?;
    let wanted = match source.kind {
        SourceKind::Pool => usize::from(source.maxsources.max(1)),
        _ => 1,
    };
    unique.truncate(wanted);
    Ok(unique)
}

/// Every address of a source's name (of the allowed family), without duplicates.
pub fn resolve_all(
    source: &SourceConfig,
    daemon_family: AddressFamily,
    overrides: &[(String, Vec<IpAddr>)],
) -> Result<Vec<SocketAddr>, String> {
    let family = source.effective_family(daemon_family);
    let resolved: Vec<SocketAddr> = match overrides.iter().find(|(name, _)| *name == source.name) {
        Some((_, addresses)) => addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, source.port))
            .collect(),
        None => (source.name.as_str(), source.port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {}: {error}", source.name))?
            .collect(),
    };
    let found: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|address| match family {
            AddressFamily::Any => true,
            AddressFamily::Ipv4 => address.is_ipv4(),
            AddressFamily::Ipv6 => address.is_ipv6(),
        })
        .collect();
    if found.is_empty() {
        return Err(format!(
            "{} has no address of the family allowed ({family:?})",
            source.name
        ));
    }
    let mut unique: Vec<SocketAddr> = Vec::new();
    for address in found {
        if !unique.contains(&address) {
            unique.push(address);
        }
    }
    Ok(unique)
}

/// A connected, timestamping socket to `address`.
pub fn open_socket(address: SocketAddr) -> std::io::Result<(UdpSocket, TimestampSupport)> {
    let mut socket = UdpSocket::connect_to(address)?;
    let support = socket.enable_timestamps();
    Ok((socket, support))
}

/// The reference ID announced while this server is our reference (RFC 5905 §7.3:
/// its IPv4 address, or the first four octets of the MD5 of its IPv6 address).
pub fn reference_id_for(address: &SocketAddr) -> ReferenceId {
    ReferenceId::from_ip(address.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnomon_config::Config;

    #[test]
    fn resolves_literals_and_respects_family() {
        let parsed =
            Config::parse_str("server 127.0.0.1 port 5123\npool ::1 maxsources 2\n", "t").unwrap();
        let server = &parsed.config.sources[0];
        assert_eq!(
            resolve(server, AddressFamily::Any, &[]).unwrap(),
            vec!["127.0.0.1:5123".parse().unwrap()]
        );
        assert!(resolve(server, AddressFamily::Ipv6, &[])
            .unwrap_err()
            .contains("no address"));
        let pool = &parsed.config.sources[1];
        assert_eq!(resolve(pool, AddressFamily::Any, &[]).unwrap().len(), 1);
    }

    #[test]
    fn reference_ids() {
        assert_eq!(
            reference_id_for(&"169.254.169.123:123".parse().unwrap()).to_hex(),
            "A9FEA97B"
        );
        // The MD5 vector is checked in gnomon-proto's refid tests.
        assert_eq!(
            reference_id_for(&"[2001:db8::1]:123".parse().unwrap()).to_hex(),
            "39AB9B37"
        );
    }
}
