//! `allow` and `deny`: the subnet syntax of chrony's `CPS_ParseAllowDeny`.
//!
//! Owns the forms `allow`, `allow all [SUBNET]`, `ADDR`, `ADDR/BITS`, the IPv4 short
//! forms (`10`, `10.1`, `10.1.2`, `0/0`) and host names. It must not resolve host
//! names (they are kept as text for the daemon) and does no IO.

use std::net::{IpAddr, Ipv4Addr};

use super::error::{ConfigError, Problem};
use super::model::{AccessRule, Subnet};
use super::values::LineCtx;

const EXPECTED: &str = "[all] [ADDRESS[/BITS] | SHORT-IPv4[/BITS] | HOSTNAME], \
                        e.g. 172.31.0.0/16, 10.1, 2001:db8::/32, all";

/// Parse the arguments of `allow` (allow = true) or `deny`.
pub fn parse_access(ctx: &LineCtx, allow: bool, args: &[&str]) -> Result<AccessRule, ConfigError> {
    // chrony compares the `all` keyword case-sensitively.
    let (all, rest) = match args.split_first() {
        Some((&"all", rest)) => (true, rest),
        _ => (false, args),
    };
    if let Some(extra) = rest.get(1) {
        return Err(ctx.error(Problem::UnexpectedArgument(extra.to_string()), EXPECTED));
    }
    let subnet = match rest.first() {
        None => Subnet::Everything,
        Some(net) => parse_subnet(ctx, net)?,
    };
    Ok(AccessRule { allow, all, subnet })
}

fn parse_subnet(ctx: &LineCtx, written: &str) -> Result<Subnet, ConfigError> {
    let invalid = || ctx.invalid("subnet", written, EXPECTED);
    let (net, bits) = match written.split_once('/') {
        Some((net, bits)) => match bits.parse::<u8>() {
            Ok(bits) => (net, Some(bits)),
            Err(_) => return Err(invalid()),
        },
        None => (written, None),
    };
    let (address, default_bits) = if let Ok(address) = net.parse::<IpAddr>() {
        let full = if address.is_ipv4() { 32 } else { 128 };
        (address, full)
    } else if let Some((address, parts)) = short_ipv4(net) {
        (IpAddr::V4(address), 8 * parts)
    } else if bits.is_none() && is_host_name(net) {
        return Ok(Subnet::Host(net.to_string()));
    } else {
        return Err(invalid());
    };
    let max_bits = if address.is_ipv4() { 32 } else { 128 };
    let prefix_len = bits.unwrap_or(default_bits);
    if prefix_len > max_bits {
        return Err(invalid());
    }
    Ok(Subnet::Network {
        address,
        prefix_len,
    })
}

/// chrony's short IPv4 network forms: one to three decimal octets (`10`, `10.1`,
/// `10.1.2`), missing octets zero. Returns the address and the number of octets.
fn short_ipv4(net: &str) -> Option<(Ipv4Addr, u8)> {
    let parts: Vec<&str> = net.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some((Ipv4Addr::from(octets), parts.len() as u8))
}

/// A plausible DNS name (letters, digits, `-`, `_`, `.`, with at least one letter).
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;

    fn parse(args: &[&str]) -> Result<AccessRule, ConfigError> {
        let location = Location {
            origin: "t".into(),
            line_number: 1,
        };
        let ctx = LineCtx {
            location: &location,
            raw: "allow",
            directive: "allow",
        };
        parse_access(&ctx, true, args)
    }

    fn net(address: &str, prefix_len: u8) -> Subnet {
        Subnet::Network {
            address: address.parse().unwrap(),
            prefix_len,
        }
    }

    #[test]
    fn chrony_forms() {
        assert_eq!(parse(&[]).unwrap().subnet, Subnet::Everything);
        assert_eq!(
            parse(&["172.31.0.0/16"]).unwrap().subnet,
            net("172.31.0.0", 16)
        );
        assert_eq!(parse(&["1.2.3.4"]).unwrap().subnet, net("1.2.3.4", 32));
        assert_eq!(parse(&["3.4.5"]).unwrap().subnet, net("3.4.5.0", 24));
        assert_eq!(parse(&["0/0"]).unwrap().subnet, net("0.0.0.0", 0));
        assert_eq!(parse(&["::/0"]).unwrap().subnet, net("::", 0));
        assert_eq!(
            parse(&["2001:db8::/32"]).unwrap().subnet,
            net("2001:db8::", 32)
        );
        let all = parse(&["all", "1.2.0.0/16"]).unwrap();
        assert!(all.all);
        assert_eq!(all.subnet, net("1.2.0.0", 16));
        assert_eq!(
            parse(&["ntp.example.net"]).unwrap().subnet,
            Subnet::Host("ntp.example.net".into())
        );
    }

    #[test]
    fn bad_subnets() {
        for bad in [
            &["1.2.3.4/33"][..],
            &["::/129"],
            &["300.1"],
            &["a.b/8"],
            &["1.2/x"],
            &["1", "2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
