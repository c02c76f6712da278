//! The served clients' log: a fixed-size table of per-address records.
//!
//! Owns finding (or making room for) the record of one client address, its counters
//! (requests, rate-limit drops, KoDs, time of the last request), its request-rate
//! estimates and the token bucket state the rate limiter works on. The table's memory
//! is allocated once, at construction, and never grows: a flood from spoofed
//! addresses can only evict records (the least recently seen of a small set-associative
//! bucket), which is counted like chrony's "Client log records dropped". Slots are
//! chosen by a keyed hash, so an attacker cannot aim at one bucket without the key.
//!
//! Time in the log has chrony's resolution: ticks of 1/16 s, counted from a random
//! phase (derived from the hash key) so a client cannot time its requests to tick
//! boundaries. Request rates are chrony's too: a scaled log2 (4 per octave) kept in one
//! byte, moved towards each new interval by a rough moving average that follows a
//! slower rate at once and a faster one a quarter octave per request; one estimate
//! for requests that followed a reply and one for those that followed a drop. The
//! rate limiter compares the two (a client that polls faster when not answered), so
//! these rules decide how much of a flood is answered, and they are chrony's.
//!
//! It must not decide access or limits (see `access` and `ratelimit`), read a clock
//! (times are monotonic nanoseconds passed in), or allocate after `new`.

use std::net::{IpAddr, Ipv4Addr};

/// Records per bucket: a new address may evict the stalest of these.
pub const WAYS: usize = 4;
/// Default number of records (what chrony's default 512 KiB clientloglimit holds).
pub const DEFAULT_CAPACITY: usize = 4096;
/// Memory of one record in the table, bytes.
pub const RECORD_BYTES: usize = std::mem::size_of::<Option<ClientRecord>>();

/// log2 of the ticks per second of the log's clock.
pub const TICKS_PER_SECOND_LOG2: i32 = 4;
/// One tick of the log's clock, ns (1/16 s).
pub const TICK_NS: i64 = 1_000_000_000 >> TICKS_PER_SECOND_LOG2;
/// Steps of a request rate per octave of interval.
pub const RATE_STEPS_PER_OCTAVE: i32 = 4;
/// The slowest rate kept: one request per 2^14 s.
const SLOWEST_RATE: i32 = -14 * RATE_STEPS_PER_OCTAVE;
/// How far above a new interval's rate an estimate may stay (2.5 octaves).
const RATE_MAX_LAG: i32 = RATE_STEPS_PER_OCTAVE * 5 / 2;

/// One client's log record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientRecord {
    pub address: IpAddr,
    /// Monotonic time of the latest request, ns.
    pub last_request_ns: i64,
    /// Requests received (those passing access control).
    pub requests: u64,
    /// Requests dropped by the rate limit.
    pub rate_limit_drops: u64,
    /// RATE kiss-o'-death replies sent.
    pub kods_sent: u64,
    /// Request rate after a reply, scaled log2 of requests per second
    /// ([`RATE_STEPS_PER_OCTAVE`] per octave); `None` until two requests.
    pub rate: Option<i8>,
    /// The same after a dropped request: a client that speeds up when not answered
    /// shows a higher rate here.
    pub limited_rate: Option<i8>,
    /// Token bucket fill, in the rate limiter's tokens (see `ratelimit`).
    pub tokens: u32,
    /// The previous request of this client was dropped by the rate limit.
    pub last_dropped: bool,
}

impl ClientRecord {
    fn new(address: IpAddr, now_ns: i64, full_tokens: u32) -> ClientRecord {
        ClientRecord {
            address,
            last_request_ns: now_ns,
            requests: 0,
            rate_limit_drops: 0,
            kods_sent: 0,
            rate: None,
            limited_rate: None,
            tokens: full_tokens,
            last_dropped: false,
        }
    }

    /// The interval between requests that followed a reply, log2 seconds (chronyc
    /// clients "Int").
    pub fn interval_log2_s(&self) -> Option<f32> {
        self.rate.map(rate_to_interval_log2_s)
    }

    /// The interval between requests that followed a drop, log2 seconds ("IntL").
    pub fn limited_interval_log2_s(&self) -> Option<f32> {
        self.limited_rate.map(rate_to_interval_log2_s)
    }
}

fn rate_to_interval_log2_s(rate: i8) -> f32 {
    -f32::from(rate) / RATE_STEPS_PER_OCTAVE as f32
}

/// The scaled log2 of an interval of `ticks` (in whole octaves, rounded at 1.5×, as
/// chrony): -20 for less than a tick, -16 for one tick, up to 56 (2^14 s).
fn interval_scaled_log2(ticks: u64) -> i32 {
    if ticks == 0 {
        return -RATE_STEPS_PER_OCTAVE * (TICKS_PER_SECOND_LOG2 + 1);
    }
    let mut value = ticks + ticks / 2;
    let mut scaled = -RATE_STEPS_PER_OCTAVE * TICKS_PER_SECOND_LOG2;
    while scaled < -SLOWEST_RATE && value > 1 {
        value >>= 1;
        scaled += RATE_STEPS_PER_OCTAVE;
    }
    scaled
}

/// Move a rate estimate towards the rate of a new interval: a slower rate is followed
/// at once (half way, and never more than [`RATE_MAX_LAG`] above it), a faster one one
/// step per request, so a short burst cannot make a client look fast.
fn update_rate(rate: &mut Option<i8>, interval_ticks: u64) {
    let target = -interval_scaled_log2(interval_ticks);
    let next = match *rate {
        None => target,
        Some(current) => {
            let current = i32::from(current);
            if current < target {
                current + 1
            } else if current > target + RATE_MAX_LAG {
                target + RATE_MAX_LAG
            } else if current > target {
                // Truncating division, as the rule was tuned with.
                (current + target - 1) / 2
            } else {
                current
            }
        }
    };
    *rate = Some(next.clamp(i32::from(i8::MIN) + 1, i32::from(i8::MAX)) as i8);
}

/// Fixed-capacity client log.
#[derive(Clone, Debug)]
pub struct ClientTable {
    slots: Vec<Option<ClientRecord>>,
    hash_key: u64,
    /// Phase of the log's ticks, ns in 0..TICK_NS.
    tick_phase_ns: i64,
    evictions: u64,
}

impl ClientTable {
    /// A table of at most `capacity` records: a power of two of whole buckets, rounded
    /// down (a cap stays a cap), at least one bucket.
    pub fn new(capacity: usize, hash_key: u64) -> ClientTable {
        let buckets = prev_power_of_two((capacity / WAYS).max(1));
        ClientTable {
            slots: vec![None; buckets * WAYS],
            hash_key,
            tick_phase_ns: (mix64(hash_key ^ 0x7469_636b) % TICK_NS as u64) as i64,
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The table's memory, bytes (allocated once, in `new`).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * RECORD_BYTES
    }

    /// Records dropped to make room for new addresses.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The first slot of `address`'s bucket: the address, XORed with the secret key,
    /// through a bijective 64-bit mixer (splitmix64's finaliser), once per 64 bits.
    /// Without the key, addresses that share a bucket cannot be chosen; this costs a
    /// few multiplications per request where SipHash cost a tenth of the request path.
    fn bucket(&self, address: IpAddr) -> usize {
        let hash = match address {
            IpAddr::V4(v4) => mix64(u64::from(u32::from(v4)) ^ self.hash_key),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                mix64(mix64(bits as u64 ^ self.hash_key) ^ (bits >> 64) as u64)
            }
        };
        let buckets = self.slots.len() / WAYS;
        (hash as usize & (buckets - 1)) * WAYS
    }

    /// The log's tick at monotonic time `now_ns`.
    fn tick(&self, now_ns: i64) -> i64 {
        (now_ns + self.tick_phase_ns).div_euclid(TICK_NS)
    }

    /// Log a request from `address` at `now_ns` and return its record, whose token
    /// bucket the caller refills, with the ticks since the client's previous request
    /// (None for a new record, whose bucket is `full_tokens`, or when time went back).
    pub fn log_request(
        &mut self,
        address: IpAddr,
        now_ns: i64,
        full_tokens: u32,
    ) -> (&mut ClientRecord, Option<u64>) {
        let address = canonical(address);
        let start = self.bucket(address);
        let bucket = start..start + WAYS;
        let found = self.slots[bucket.clone()]
            .iter()
            .position(|slot| slot.is_some_and(|record| record.address == address));
        let (index, elapsed_ticks) = match found {
            Some(offset) => {
                let record = self.slots[start + offset].as_ref().expect("found");
                let elapsed_ticks = self.tick(now_ns) - self.tick(record.last_request_ns);
                (start + offset, u64::try_from(elapsed_ticks).ok())
            }
            None => {
                let offset = self.slots[bucket]
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, slot)| slot.map_or(i64::MIN, |r| r.last_request_ns))
                    .map(|(offset, _)| offset)
                    .expect("WAYS > 0");
                if self.slots[start + offset].is_some() {
                    self.evictions += 1;
                }
                self.slots[start + offset] = Some(ClientRecord::new(address, now_ns, full_tokens));
                (start + offset, None)
            }
        };
        let record = self.slots[index].as_mut().expect("present");
        record.requests += 1;
        record.last_request_ns = now_ns;
        if let Some(ticks) = elapsed_ticks {
            if record.last_dropped {
                update_rate(&mut record.limited_rate, ticks);
            } else {
                update_rate(&mut record.rate, ticks);
            }
        }
        (record, elapsed_ticks)
    }

    /// The record of `address`, if it is in the table.
    pub fn get(&self, address: IpAddr) -> Option<&ClientRecord> {
        let address = canonical(address);
        let start = self.bucket(address);
        self.slots[start..start + WAYS]
            .iter()
            .flatten()
            .find(|record| record.address == address)
    }

    pub fn get_mut(&mut self, address: IpAddr) -> Option<&mut ClientRecord> {
        let address = canonical(address);
        let start = self.bucket(address);
        self.slots[start..start + WAYS]
            .iter_mut()
            .flatten()
            .find(|record| record.address == address)
    }

    /// Every record, in table order.
    pub fn records(&self) -> impl Iterator<Item = &ClientRecord> {
        self.slots.iter().flatten()
    }

    /// Zero every record's request, drop and KoD counters (chronyc `clients -r`).
    /// The records stay, with their intervals, last request time and token bucket:
    /// a reset must not hand a rate-limited client a fresh burst.
    pub fn reset_counters(&mut self) {
        for record in self.slots.iter_mut().flatten() {
            record.requests = 0;
            record.rate_limit_drops = 0;
            record.kods_sent = 0;
        }
    }
}

/// The largest power of two not above `n` (n >= 1).
pub fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

/// splitmix64's output function: a bijection of u64 whose every output bit depends on
/// every input bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// IPv4-mapped IPv6 addresses are logged as the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(address, |v4: Ipv4Addr| IpAddr::V4(v4)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn counts_and_intervals() {
        let mut table = ClientTable::new(64, 7);
        let a = v4(0x0a00_0001);
        let (record, elapsed) = table.log_request(a, 0, 100);
        assert_eq!(elapsed, None);
        assert_eq!(record.tokens, 100);
        for step in 1..=8 {
            table.log_request(a, step * 2_000_000_000, 100);
        }
        let record = table.get(a).unwrap();
        assert_eq!(record.requests, 9);
        assert!((record.interval_log2_s().unwrap() - 1.0).abs() < 1e-3);
        assert_eq!(record.limited_interval_log2_s(), None);
        assert!(table.get("::ffff:10.0.0.1".parse().unwrap()).is_some());
    }

    /// chrony's rate rules: whole octaves of 1.5 x the interval, 4 steps each; a slower
    /// interval is followed at once, a faster one a step per request.
    #[test]
    fn rates_follow_chronys_rules() {
        assert_eq!(interval_scaled_log2(0), -20);
        assert_eq!(interval_scaled_log2(1), -16);
        assert_eq!(interval_scaled_log2(16), 0); // 1 s
        assert_eq!(interval_scaled_log2(21), 0);
        assert_eq!(interval_scaled_log2(22), 4); // 1.375 s rounds to 2 s
        assert_eq!(interval_scaled_log2(u64::from(u32::MAX)), 56);
        let mut rate = None;
        update_rate(&mut rate, 16);
        assert_eq!(rate, Some(0));
        // Faster: one step per request.
        for expected in 1..=4 {
            update_rate(&mut rate, 0);
            assert_eq!(rate, Some(expected));
        }
        // Slower: half way at once, and never more than 2.5 octaves above.
        update_rate(&mut rate, 16);
        assert_eq!(rate, Some(1));
        let mut rate = Some(20);
        update_rate(&mut rate, 1 << 10);
        assert_eq!(rate, Some(-24 + 10));
    }

    #[test]
    fn a_reset_zeroes_the_counters_and_keeps_the_rest() {
        let mut table = ClientTable::new(64, 7);
        let a = v4(0x0a00_0001);
        for step in 0..4 {
            let (record, _) = table.log_request(a, step * 1_000_000_000, 100);
            record.rate_limit_drops += 1;
            record.kods_sent += 1;
            record.tokens = 42;
        }
        table.reset_counters();
        let record = *table.get(a).unwrap();
        assert_eq!(
            (record.requests, record.rate_limit_drops, record.kods_sent),
            (0, 0, 0)
        );
        assert_eq!(record.last_request_ns, 3_000_000_000);
        assert_eq!(record.tokens, 42);
        assert!(record.interval_log2_s().unwrap().abs() < 1e-3);
        let (record, elapsed) = table.log_request(a, 4_000_000_000, 100);
        assert_eq!((record.requests, elapsed), (1, Some(16)));
    }

    #[test]
    fn a_record_is_64_bytes() {
        // docs/config.md (clientloglimit) states the size: chrony's default 512 KiB
        // then holds 8192 records.
        assert_eq!(std::mem::size_of::<Option<ClientRecord>>(), 64);
    }

    #[test]
    fn the_keyed_hash_spreads_neighbouring_addresses() {
        // Half a table of consecutive IPv4 (and IPv6) addresses: a poor hash would pile
        // them into few buckets and evict most; a good one evicts only the few that
        // land in an already full bucket (Poisson(2) per bucket).
        for key in [0, 1, 0x9e37_79b9_7f4a_7c15] {
            let mut table = ClientTable::new(8192, key);
            for n in 0..4096u32 {
                table.log_request(v4(0x0a00_0000 + n), 1, 0);
            }
            assert!(table.evictions() < 205, "key {key}: {}", table.evictions());
            let mut table = ClientTable::new(8192, key);
            for n in 0..4096u128 {
                let address = IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) + n));
                table.log_request(address, 1, 0);
            }
            assert!(table.evictions() < 205, "key {key}: {}", table.evictions());
        }
        // The key decides the placement.
        let a = ClientTable::new(8192, 1);
        let b = ClientTable::new(8192, 2);
        let moved = (0..64u32)
            .filter(|n| a.bucket(v4(*n)) != b.bucket(v4(*n)))
            .count();
        assert!(moved > 48, "{moved}");
    }

    #[test]
    fn a_spoofed_flood_cannot_grow_the_table() {
        let mut table = ClientTable::new(256, 99);
        let capacity = table.capacity();
        let before = table.slots.capacity();
        for n in 0..100_000u32 {
            table.log_request(v4(n), i64::from(n), 0);
        }
        assert_eq!(table.capacity(), capacity);
        assert_eq!(table.slots.capacity(), before);
        assert_eq!(table.records().count(), capacity);
        assert_eq!(table.evictions(), 100_000 - capacity as u64);
        // The newest addresses survive; long-gone ones were evicted.
        assert!(table.get(v4(99_999)).is_some());
        assert!(table.get(v4(0)).is_none());
    }

    #[test]
    fn an_active_client_survives_a_flood_in_its_bucket() {
        let mut table = ClientTable::new(64, 3);
        let regular = v4(0xc000_0201);
        let mut now_ns = 0;
        for n in 0..10_000u32 {
            now_ns += 1_000;
            if n % 2 == 0 {
                table.log_request(regular, now_ns, 0);
            } else {
                table.log_request(v4(n), now_ns, 0);
            }
        }
        assert_eq!(table.get(regular).unwrap().requests, 5_000);
    }
}
