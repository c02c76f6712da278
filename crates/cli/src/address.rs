//! Server names on the command line: `HOST[:PORT]` parsing and name resolution.
//!
//! Owns the syntax (`host`, `host:port`, `1.2.3.4:123`, `::1`, `[::1]:123`) and the
//! family filter of `-4`/`-6`. Resolution goes through the system resolver
//! (getaddrinfo via std); it must not send anything to the servers.

use std::net::{SocketAddr, ToSocketAddrs};

pub const NTP_PORT: u16 = 123;

/// Which address families a command may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AddressFamily {
    #[default]
    Any,
    Ipv4Only,
    Ipv6Only,
}

impl AddressFamily {
    pub fn from_flags(ipv4_only: bool, ipv6_only: bool) -> Self {
        match (ipv4_only, ipv6_only) {
            (true, false) => AddressFamily::Ipv4Only,
            (false, true) => AddressFamily::Ipv6Only,
            _ => AddressFamily::Any,
        }
    }

    pub fn allows(self, address: &SocketAddr) -> bool {
        match self {
            AddressFamily::Any => true,
            AddressFamily::Ipv4Only => address.is_ipv4(),
            AddressFamily::Ipv6Only => address.is_ipv6(),
        }
    }
}

/// A server as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerName {
    pub host: String,
    pub port: u16,
}

impl ServerName {
    /// Parse `HOST[:PORT]`; an IPv6 literal with a port needs brackets.
    pub fn parse(text: &str, default_port: u16) -> Result<ServerName, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty server name".into());
        }
        if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("'{text}': missing ']' after an IPv6 address"))?;
            let port = match after {
                "" => default_port,
                _ => parse_port(text, after.strip_prefix(':').unwrap_or("?"))?,
            };
            return Ok(ServerName {
                host: host.to_owned(),
                port,
            });
        }
        match text.matches(':').count() {
            0 => Ok(ServerName {
                host: text.to_owned(),
                port: default_port,
            }),
            1 => {
                let (host, port) = text.split_once(':').expect("one colon");
                if host.is_empty() {
                    return Err(format!("'{text}': no host before the port"));
                }
                Ok(ServerName {
                    host: host.to_owned(),
                    port: parse_port(text, port)?,
                })
            }
            // A bare IPv6 address.
            _ => Ok(ServerName {
                host: text.to_owned(),
                port: default_port,
            }),
        }
    }

    /// Resolve to the addresses allowed by `family`, in resolver order.
    pub fn resolve(&self, family: AddressFamily) -> Result<Vec<SocketAddr>, String> {
        let found: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve '{}': {error}", self.host))?
            .filter(|address| family.allows(address))
            .collect();
        if found.is_empty() {
            let which = match family {
                AddressFamily::Ipv4Only => "IPv4 ",
                AddressFamily::Ipv6Only => "IPv6 ",
                AddressFamily::Any => "",
            };
            return Err(format!("'{}' has no {which}address", self.host));
        }
        Ok(found)
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(whole: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!(
            "'{whole}': invalid port '{port}' (expected 1-65535)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let p = |s| ServerName::parse(s, NTP_PORT);
        assert_eq!(p("time.example").unwrap().port, 123);
        assert_eq!(
            p("127.0.0.1:11123").unwrap(),
            ServerName {
                host: "127.0.0.1".into(),
                port: 11123
            }
        );
        assert_eq!(
            p("::1").unwrap(),
            ServerName {
                host: "::1".into(),
                port: 123
            }
        );
        assert_eq!(
            p("[::1]:4123").unwrap(),
            ServerName {
                host: "::1".into(),
                port: 4123
            }
        );
        assert_eq!(p("[fe80::1]").unwrap().port, 123);
        assert!(p("host:0").unwrap_err().contains("invalid port '0'"));
        assert!(p("host:x").unwrap_err().contains("invalid port 'x'"));
        assert!(p("[::1").unwrap_err().contains("missing ']'"));
        assert!(p("[::1]x").is_err());
        assert!(p(":123").is_err());
        assert!(p("").is_err());
        assert_eq!(p("[::1]:9").unwrap().to_string(), "[::1]:9");
    }

    #[test]
    fn family_filter() {
        let name = ServerName::parse("127.0.0.1:5", NTP_PORT).unwrap();
        assert_eq!(name.resolve(AddressFamily::Ipv4Only).unwrap().len(), 1);
        assert!(name
            .resolve(AddressFamily::Ipv6Only)
            .unwrap_err()
            .contains("no IPv6 address"));
        let v6 = ServerName::parse("::1", NTP_PORT).unwrap();
        assert!(v6.resolve(AddressFamily::Ipv6Only).unwrap()[0].is_ipv6());
    }
}
