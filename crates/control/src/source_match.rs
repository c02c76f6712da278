//! Which sources an `online` / `offline` argument names (chronyc's forms).
//!
//! Owns parsing and matching the forms chronyc 4.3 accepts: nothing (every source,
//! also those whose name is not resolved yet), an address, `ADDRESS/BITS`,
//! `MASK/ADDRESS` (chronyc's older form: the source's address and-ed with MASK must
//! equal ADDRESS), and a host name. A name is matched against the names written in
//! the configuration's `server`/`pool` lines, not resolved: gnomond never asks DNS on
//! its control path, where a slow resolver would stall its one thread. Pure
//! functions, no IO.

use std::net::IpAddr;

/// What an `online`/`offline` argument selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceMatch {
    /// No argument: every source.
    All,
    /// Addresses whose bits under `mask` equal `address`'s.
    Network { address: IpAddr, mask: IpAddr },
    /// The sources of the `server`/`pool` lines with this name (case-insensitive).
    Name(String),
}

/// Shown when an argument is none of the forms.
pub const EXPECTED: &str = "an address, ADDRESS/BITS, MASK/ADDRESS or a server/pool name, \
                            e.g. 192.0.2.1, 192.0.2.0/24, 2001:db8::/32, time.example.com";

fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn prefix_mask(address: IpAddr, prefix_len: u8) -> Option<IpAddr> {
    match address {
        IpAddr::V4(_) if prefix_len <= 32 => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            Some(IpAddr::V4(mask.into()))
        }
        IpAddr::V6(_) if prefix_len <= 128 => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            Some(IpAddr::V6(mask.into()))
        }
        _ => None,
    }
}

fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

impl SourceMatch {
    /// Parse the argument (`None` or blank: every source).
    pub fn parse(argument: Option<&str>) -> Result<SourceMatch, String> {
        let Some(text) = argument.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(SourceMatch::All);
        };
        let invalid = || format!("invalid source selection \"{text}\": expected {EXPECTED}");
        if let Ok(address) = text.parse::<IpAddr>() {
            let full = if address.is_ipv4() { 32 } else { 128 };
            let mask = prefix_mask(address, full).ok_or_else(invalid)?;
            return Ok(SourceMatch::Network { address, mask });
        }
        if let Some((left, right)) = text.split_once('/') {
            let Ok(left_address) = left.parse::<IpAddr>() else {
                return Err(invalid());
            };
            if let Ok(prefix_len) = right.parse::<u8>() {
                let mask = prefix_mask(left_address, prefix_len).ok_or_else(invalid)?;
                return Ok(SourceMatch::Network {
                    address: left_address,
                    mask,
                });
            }
            return match right.parse::<IpAddr>() {
                Ok(address) if address.is_ipv4() == left_address.is_ipv4() => {
                    Ok(SourceMatch::Network {
                        address,
                        mask: left_address,
                    })
                }
                _ => Err(invalid()),
            };
        }
        if is_host_name(text) {
            return Ok(SourceMatch::Name(text.to_ascii_lowercase()));
        }
        Err(invalid())
    }

    /// Does it select the source named `name` (as configured) at `address`?
    pub fn matches(&self, name: &str, address: IpAddr) -> bool {
        match self {
            SourceMatch::All => true,
            SourceMatch::Network {
                address: network,
                mask,
            } => {
                network.is_ipv4() == address.is_ipv4()
                    && bits(address) & bits(*mask) == bits(*network) & bits(*mask)
            }
            SourceMatch::Name(wanted) => name.eq_ignore_ascii_case(wanted),
        }
    }

    /// Does it select a whole `server`/`pool` line (its sources not resolved yet, and
    /// the members a pool adds later)? Only every source or the line's name does.
    pub fn matches_line(&self, name: &str) -> bool {
        match self {
            SourceMatch::All => true,
            SourceMatch::Network { .. } => false,
            SourceMatch::Name(wanted) => name.eq_ignore_ascii_case(wanted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn selects(argument: &str, address: &str) -> bool {
        SourceMatch::parse(Some(argument))
            .unwrap()
            .matches("time.example.com", ip(address))
    }

    #[test]
    fn every_source_without_an_argument() {
        assert_eq!(SourceMatch::parse(None), Ok(SourceMatch::All));
        assert_eq!(SourceMatch::parse(Some(" ")), Ok(SourceMatch::All));
        assert!(SourceMatch::All.matches("x", ip("::1")));
        assert!(SourceMatch::All.matches_line("pool.example"));
    }

    #[test]
    fn addresses_and_subnets() {
        assert!(selects("192.0.2.1", "192.0.2.1"));
        assert!(!selects("192.0.2.1", "192.0.2.2"));
        assert!(selects("192.0.2.0/24", "192.0.2.77"));
        assert!(!selects("192.0.2.0/24", "192.0.3.1"));
        assert!(selects("0.0.0.0/0", "203.0.113.9"));
        assert!(!selects("0.0.0.0/0", "2001:db8::1"), "one family at a time");
        assert!(selects("2001:db8:789a::/48", "2001:db8:789a:1::5"));
        assert!(!selects("2001:db8:789a::/48", "2001:db8:789b::5"));
        // chronyc's MASK/ADDRESS form.
        assert!(selects("255.255.255.0/1.2.3.0", "1.2.3.4"));
        assert!(!selects("255.255.255.0/1.2.3.0", "1.2.4.4"));
        assert!(!SourceMatch::parse(Some("192.0.2.0/24"))
            .unwrap()
            .matches_line("192.0.2.1"));
    }

    #[test]
    fn names_match_the_configured_name() {
        let by_name = SourceMatch::parse(Some("Time.Example.com")).unwrap();
        assert!(by_name.matches("time.example.com", ip("192.0.2.1")));
        assert!(!by_name.matches("other.example.com", ip("192.0.2.1")));
        assert!(by_name.matches_line("time.example.com"));
    }

    #[test]
    fn garbage_is_refused_with_the_forms() {
        for bad in [
            "192.0.2.0/33",
            "2001:db8::/129",
            "192.0.2.0/x",
            "255.255.255.0/2001:db8::",
            "a b",
            "x/24",
        ] {
            let error = SourceMatch::parse(Some(bad)).unwrap_err();
            assert!(error.contains("ADDRESS/BITS"), "{bad}: {error}");
        }
    }
}
