//! Fuzz the access table (gnomon_core::access, chrony's `allow`/`deny` semantics)
//! against a naive model: for one address, scan the rules in order, keeping the
//! verdict of each tree level (prefix lengths rounded up to a multiple of 4) that a
//! rule covering the address set last, an `all` rule clearing the deeper levels; the
//! deepest level set decides, none means deny. Asserts equal verdicts for addresses
//! near the rules' networks (one bit flipped), IPv4-mapped forms and arbitrary ones.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gnomon_core::access::{AccessRule, AccessTable};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// An address as (is IPv4, value, bit length); IPv4-mapped IPv6 counts as IPv4.
fn family_value(address: IpAddr) -> (bool, u128, u32) {
    match address {
        IpAddr::V4(v4) => (true, u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (true, u128::from(u32::from(v4)), 32),
            None => (false, u128::from(v6), 128),
        },
    }
}

/// Whether `rule` covers `address`, and the tree level it sets.
fn covers(rule: &AccessRule, address: IpAddr) -> Option<u32> {
    let Some((network, prefix)) = rule.network else {
        return Some(0);
    };
    let (rule_v4, rule_bits, rule_len) = family_value(network);
    let (v4, bits, _) = family_value(address);
    if rule_v4 != v4 {
        return None;
    }
    let mut prefix = u32::from(prefix);
    if network.is_ipv6() && rule_v4 {
        // A mapped network written with an IPv6 prefix: its IPv4 part.
        prefix = prefix.saturating_sub(96);
    }
    let prefix = prefix.min(rule_len);
    let same = prefix == 0 || (rule_bits ^ bits) >> (rule_len - prefix) == 0;
    same.then(|| prefix.div_ceil(4) * 4)
}

fn model(rules: &[AccessRule], address: IpAddr) -> bool {
    let mut levels: [Option<bool>; 33] = [None; 33];
    for rule in rules {
        let Some(level) = covers(rule, address) else {
            continue;
        };
        let level = (level / 4) as usize;
        if rule.all {
            levels[level + 1..].iter_mut().for_each(|l| *l = None);
        }
        levels[level] = Some(rule.allow);
    }
    levels.iter().rev().find_map(|l| *l).unwrap_or(false)
}

fn address(u: &mut Unstructured) -> Result<IpAddr> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?)),
        1 => IpAddr::V6(Ipv4Addr::from(u.arbitrary::<u32>()?).to_ipv6_mapped()),
        _ => IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?)),
    })
}

fn flip(address: IpAddr, bit: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) ^ (1 << (bit % 32)))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) ^ (1 << (bit % 128)))),
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let mut rules = Vec::new();
    for _ in 0..u.int_in_range(0..=12u8)? {
        let network = match u.int_in_range(0..=7u8)? {
            0 => None,
            // Nested in an earlier rule's network, so levels interact.
            1..=3 if !rules.is_empty() => {
                let earlier: &AccessRule = &rules[usize::from(u.arbitrary::<u8>()?) % rules.len()];
                earlier
                    .network
                    .map(|(a, _)| {
                        Ok::<_, libfuzzer_sys::arbitrary::Error>((
                            flip(a, u.arbitrary()?),
                            u.arbitrary()?,
                        ))
                    })
                    .transpose()?
            }
            _ => Some((address(u)?, u.int_in_range(0..=140u8)?)),
        };
        rules.push(AccessRule {
            allow: u.arbitrary()?,
            all: u.arbitrary()?,
            network,
        });
    }
    let table = AccessTable::from_rules(&rules);
    let mut queries = Vec::new();
    for rule in &rules {
        if let Some((network, _)) = rule.network {
            queries.push(network);
            queries.push(flip(network, u.arbitrary()?));
            if let IpAddr::V4(v4) = network {
                queries.push(IpAddr::V6(v4.to_ipv6_mapped()));
            }
        }
    }
    while !u.is_empty() && queries.len() < 64 {
        queries.push(address(u)?);
    }
    for query in queries {
        assert_eq!(
            table.is_allowed(query),
            model(&rules, query),
            "{query} with {rules:#?}"
        );
    }
    assert_eq!(
        table.allows_any(),
        rules.iter().any(|r| r.allow) && table.allows_any()
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
