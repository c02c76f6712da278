//! Access control for served clients: `allow` / `deny` with chrony's semantics.
//!
//! Owns the table of subnets and the decision "may this address be served?". chrony
//! keeps its rules in a tree with one level per four address bits; a rule whose prefix
//! length is not a multiple of four sets every node of the next level that it covers
//! (so `10.0.0.0/15` is the two /16 nodes `10.0` and `10.1`). A later rule replaces
//! what an earlier one set on the very same node; a lookup takes the most specific node
//! that says allow or deny; `allow all` / `deny all` also clear every more specific
//! node inside their subnet. Nothing set means deny: by default nobody is served.
//! This module reproduces exactly that with a flat list of (node, state) entries.
//!
//! It must not resolve host names (the daemon does, once at start, and passes the
//! first address as a /32 or /128 rule, as chrony does), do IO, or allocate on lookup.

use std::net::IpAddr;

/// Bits per level of chrony's table tree.
const BITS_PER_LEVEL: u8 = 4;

/// One `allow`/`deny` directive with its subnet already an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRule {
    pub allow: bool,
    /// `allow all` / `deny all`: clear more specific rules inside the subnet.
    pub all: bool,
    /// `None`: every IPv4 and IPv6 address (a bare `allow` / `deny`).
    pub network: Option<(IpAddr, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// A node of chrony's tree: the address bits (left-aligned in 128 bits) and depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    family: Family,
    bits: u128,
    prefix_len: u8,
}

impl Node {
    fn contains(&self, family: Family, bits: u128, prefix_len: u8) -> bool {
        self.family == family
            && prefix_len >= self.prefix_len
            && (bits ^ self.bits) & mask(self.prefix_len) == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    node: Node,
    allow: bool,
}

/// The compiled access table. Lookups are a scan of a short list, allocation-free.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessTable {
    entries: Vec<Entry>,
}

fn mask(prefix_len: u8) -> u128 {
    match prefix_len {
        0 => 0,
        len => u128::MAX << (128 - u32::from(len.min(128))),
    }
}

/// An address as (family, bits left-aligned in a u128, full length). IPv4-mapped IPv6
/// addresses count as IPv4, so a dual-stack socket cannot bypass IPv4 rules.
fn split(address: IpAddr) -> (Family, u128, u8) {
    match address {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (Family::V4, u128::from(u32::from(v4)) << 96, 32),
            None => (Family::V6, u128::from(v6), 128),
        },
    }
}

impl AccessTable {
    /// The default table: nobody is allowed.
    pub fn deny_all() -> AccessTable {
        AccessTable::default()
    }

    /// Apply rules in configuration order.
    pub fn from_rules(rules: &[AccessRule]) -> AccessTable {
        let mut table = AccessTable::default();
        for rule in rules {
            table.apply(rule);
        }
        table
    }

    /// Apply one more rule (later rules win on the nodes they set).
    pub fn apply(&mut self, rule: &AccessRule) {
        match rule.network {
            None => {
                for family in [Family::V4, Family::V6] {
                    self.set(family, 0, 0, rule.allow, rule.all);
                }
            }
            Some((address, prefix_len)) => {
                let (family, bits, full_len) = split(address);
                // A mapped address given with an IPv6 prefix keeps its meaning in
                // IPv4 bits.
                let prefix_len = match (address, family) {
                    (IpAddr::V6(_), Family::V4) => prefix_len.saturating_sub(96),
                    _ => prefix_len,
                }
                .min(full_len);
                self.set(family, bits, prefix_len, rule.allow, rule.all);
            }
        }
    }

    fn set(&mut self, family: Family, bits: u128, prefix_len: u8, allow: bool, all: bool) {
        // Round up to the tree's level and set every node of that level covered.
        let level_len = prefix_len.div_ceil(BITS_PER_LEVEL) * BITS_PER_LEVEL;
        let spare_bits = level_len - prefix_len;
        let base = bits & mask(prefix_len);
        for index in 0..(1u128 << spare_bits) {
            let node_bits = if level_len == 0 {
                0
            } else {
                base | (index << (128 - u32::from(level_len)))
            };
            let node = Node {
                family,
                bits: node_bits,
                prefix_len: level_len,
            };
            if all {
                // Only this family's nodes: chrony keeps one table per family.
                self.entries.retain(|entry| {
                    !(entry.node.prefix_len > level_len
                        && node.contains(entry.node.family, entry.node.bits, entry.node.prefix_len))
                });
            }
            match self.entries.iter_mut().find(|entry| entry.node == node) {
                Some(entry) => entry.allow = allow,
                None => self.entries.push(Entry { node, allow }),
            }
        }
    }

    /// May `address` be served? The most specific node containing it decides;
    /// none means deny.
    pub fn is_allowed(&self, address: IpAddr) -> bool {
        let (family, bits, full_len) = split(address);
        let mut best: Option<&Entry> = None;
        for entry in &self.entries {
            if entry.node.contains(family, bits, full_len)
                && best.is_none_or(|b| entry.node.prefix_len > b.node.prefix_len)
            {
                best = Some(entry);
            }
        }
        best.is_some_and(|entry| entry.allow)
    }

    /// True when at least one address could be allowed.
    pub fn allows_any(&self) -> bool {
        self.entries.iter().any(|entry| entry.allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, all: bool, net: Option<&str>) -> AccessRule {
        AccessRule {
            allow,
            all,
            network: net.map(|n| {
                let (a, p) = n.split_once('/').unwrap();
                (a.parse().unwrap(), p.parse().unwrap())
            }),
        }
    }

    fn allowed(table: &AccessTable, address: &str) -> bool {
        table.is_allowed(address.parse().unwrap())
    }

    #[test]
    fn default_denies_everyone() {
        let table = AccessTable::deny_all();
        assert!(!allowed(&table, "10.0.0.1"));
        assert!(!allowed(&table, "::1"));
        assert!(!table.allows_any());
    }

    #[test]
    fn bare_allow_and_deny_cover_both_families() {
        let table = AccessTable::from_rules(&[rule(true, false, None)]);
        assert!(allowed(&table, "192.0.2.1"));
        assert!(allowed(&table, "2001:db8::1"));
        let table = AccessTable::from_rules(&[rule(true, false, None), rule(false, false, None)]);
        assert!(!allowed(&table, "192.0.2.1"));
        assert!(!allowed(&table, "2001:db8::1"));
    }

    #[test]
    fn the_manual_example_without_all_is_order_independent() {
        let a = rule(true, false, Some("1.2.3.4/32"));
        let d = rule(false, false, Some("1.2.3.0/24"));
        let b = rule(true, false, Some("1.2.0.0/16"));
        for order in [[a, d, b], [b, d, a], [d, a, b], [b, a, d]] {
            let table = AccessTable::from_rules(&order);
            assert!(allowed(&table, "1.2.3.4"), "{order:?}");
            assert!(!allowed(&table, "1.2.3.5"), "{order:?}");
            assert!(allowed(&table, "1.2.4.5"), "{order:?}");
            assert!(!allowed(&table, "1.3.0.1"), "{order:?}");
        }
    }

    #[test]
    fn allow_all_overrides_earlier_more_specific_rules() {
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("1.2.3.4/32")),
            rule(false, false, Some("1.2.3.0/24")),
            rule(true, true, Some("1.2.0.0/16")),
        ]);
        assert!(allowed(&table, "1.2.3.5"));
        // ...but not later ones.
        let table = AccessTable::from_rules(&[
            rule(true, true, Some("1.2.0.0/16")),
            rule(false, false, Some("1.2.3.0/24")),
        ]);
        assert!(!allowed(&table, "1.2.3.5"));
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("10.0.0.0/8")),
            rule(false, true, Some("10.1.0.0/16")),
        ]);
        assert!(!allowed(&table, "10.1.2.3"));
        assert!(allowed(&table, "10.2.2.3"));
    }

    #[test]
    fn allow_all_and_deny_all_clear_only_their_own_family() {
        // Found by the access_table fuzz target: `deny all ::/0` cleared the IPv4
        // rules too (the clearing compared the rule's family with itself, and an
        // IPv4 node's bits, left-aligned, lie inside ::/0), so the IPv4 clients
        // allowed above were denied. chrony keeps one table per family.
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("192.0.2.0/24")),
            rule(false, true, Some("::/0")),
        ]);
        assert!(allowed(&table, "192.0.2.1"));
        assert!(!allowed(&table, "2001:db8::1"));
        // An IPv6 prefix whose bits are an IPv4 rule's left-aligned bits.
        let table = AccessTable::from_rules(&[
            rule(false, false, Some("0.0.0.0/0")),
            rule(true, false, Some("32.1.13.0/24")),
            rule(false, true, Some("2001:db8::/32")),
        ]);
        assert!(allowed(&table, "32.1.13.7"));
        assert!(!allowed(&table, "2001:db8::7"));
        // And the other way round.
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("2001:db8::/32")),
            rule(false, true, Some("0.0.0.0/0")),
        ]);
        assert!(allowed(&table, "2001:db8::1"));
        assert!(!allowed(&table, "192.0.2.1"));
    }

    #[test]
    fn prefixes_in_one_table_level_follow_order() {
        // 1.2.3.0/25 and 1.2.3.0/28 live in the same level (/25 is expanded to /28
        // nodes): the later rule wins on the shared node.
        let table = AccessTable::from_rules(&[
            rule(false, false, Some("1.2.3.0/28")),
            rule(true, false, Some("1.2.3.0/25")),
        ]);
        assert!(allowed(&table, "1.2.3.1"));
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("1.2.3.0/25")),
            rule(false, false, Some("1.2.3.0/28")),
        ]);
        assert!(!allowed(&table, "1.2.3.1"));
        assert!(allowed(&table, "1.2.3.17"));
        // /28 and /29 are different levels: the /29 is more specific either way.
        for order in [[true, false], [false, true]] {
            let rules: Vec<_> = order
                .iter()
                .map(|&first| {
                    if first {
                        rule(true, false, Some("1.2.3.0/28"))
                    } else {
                        rule(false, false, Some("1.2.3.0/29"))
                    }
                })
                .collect();
            let table = AccessTable::from_rules(&rules);
            assert!(!allowed(&table, "1.2.3.1"));
            assert!(allowed(&table, "1.2.3.9"));
        }
    }

    #[test]
    fn cidr_and_families() {
        let table = AccessTable::from_rules(&[
            rule(true, false, Some("172.31.0.0/16")),
            rule(true, false, Some("2001:db8::/32")),
            rule(false, false, Some("2001:db8:1::/48")),
        ]);
        assert!(allowed(&table, "172.31.255.254"));
        assert!(!allowed(&table, "172.32.0.1"));
        assert!(allowed(&table, "2001:db8:2::1"));
        assert!(!allowed(&table, "2001:db8:1::1"));
        assert!(!allowed(&table, "2001:db9::1"));
        // IPv4 rules apply to IPv4-mapped IPv6 addresses.
        assert!(allowed(&table, "::ffff:172.31.0.9"));
        assert!(!allowed(&table, "::ffff:172.30.0.9"));
        // 0/0 covers IPv4 only, ::/0 IPv6 only.
        let table = AccessTable::from_rules(&[rule(true, false, Some("0.0.0.0/0"))]);
        assert!(allowed(&table, "8.8.8.8"));
        assert!(!allowed(&table, "::1"));
        let table = AccessTable::from_rules(&[rule(true, false, Some("::/0"))]);
        assert!(!allowed(&table, "8.8.8.8"));
        assert!(allowed(&table, "::1"));
    }

    #[test]
    fn host_bits_and_odd_prefixes() {
        // Host bits written in the rule are ignored, as chrony does.
        let table = AccessTable::from_rules(&[rule(true, false, Some("10.9.8.7/15"))]);
        assert!(allowed(&table, "10.8.0.1"));
        assert!(allowed(&table, "10.9.255.1"));
        assert!(!allowed(&table, "10.10.0.1"));
        // A later /15 overrides an earlier /16 deny on the shared /16 node.
        let table = AccessTable::from_rules(&[
            rule(false, false, Some("10.0.0.0/16")),
            rule(true, false, Some("10.0.0.0/15")),
        ]);
        assert!(allowed(&table, "10.0.0.1"));
        let table = AccessTable::from_rules(&[rule(true, false, Some("192.0.2.1/32"))]);
        assert!(allowed(&table, "192.0.2.1"));
        assert!(!allowed(&table, "192.0.2.2"));
    }
}
