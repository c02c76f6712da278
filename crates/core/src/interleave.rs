//! Server side of NTP interleaved mode: the timestamps of recent replies.
//!
//! Owns a fixed-size map from the receive timestamp a reply carried (as sent, the
//! key a client in interleaved mode echoes in its next request's origin field) to the
//! best transmit timestamp known for that reply: the one read just before sending,
//! replaced by the kernel's when it arrives from the error queue. One map access per
//! reply (at send, an append), one per kernel timestamp, one per request with an origin (a search of a few probes). A request whose
//! origin is such a key gets an interleaved reply: origin = the request's receive
//! field, receive = this exchange's, transmit = the saved, more accurate transmit
//! timestamp of the earlier reply (RFC 9769, as chrony does). A key seen twice is
//! disabled, so a reply never carries a transmit timestamp of a different exchange.
//!
//! It must not grow (a ring of the newest replies, the oldest makes room), read a
//! clock, or allocate after `new`.

use gnomon_proto::NtpTimestamp;

use crate::serving::TimestampKind;

/// Default number of saved replies.
pub const DEFAULT_SLOTS: usize = 16384;

/// One saved reply in 16 bytes (a cache line holds four): the receive timestamp it
/// carried, and its transmit timestamp with the kind in the two lowest fraction bits
/// (0.5 ns; 0 = none, the slot is disabled). Half the size of a plain struct, so the
/// map's cache misses, one per reply sent, cost half as much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    rx_key: u64,
    transmit_and_kind: u64,
}

const EMPTY: Slot = Slot {
    rx_key: 0,
    transmit_and_kind: 0,
};
const KIND_BITS: u64 = 0b11;

/// The kind as stored, 1..3, in order of precision (a better kind has a larger code).
fn kind_code(kind: TimestampKind) -> u64 {
    match kind {
        TimestampKind::Daemon => 1,
        TimestampKind::Kernel => 2,
        TimestampKind::Hardware => 3,
    }
}

impl Slot {
    fn saved(rx_key: u64, transmit: NtpTimestamp, kind: TimestampKind) -> Slot {
        Slot {
            rx_key,
            transmit_and_kind: (transmit.to_bits() & !KIND_BITS) | kind_code(kind),
        }
    }

    fn transmit(&self) -> Option<(NtpTimestamp, TimestampKind)> {
        let kind = match self.transmit_and_kind & KIND_BITS {
            1 => TimestampKind::Daemon,
            2 => TimestampKind::Kernel,
            3 => TimestampKind::Hardware,
            _ => return None,
        };
        Some((
            NtpTimestamp::from_bits(self.transmit_and_kind & !KIND_BITS),
            kind,
        ))
    }
}

/// The saved timestamps: a ring of the most recent replies in the order of their
/// receive timestamps (chrony's design). A reply is forgotten only when `slots` newer
/// replies have been saved after it, never because another one hashed to its slot:
/// a direct-mapped table lost one record in ten at a tenth of its size (issue 19
/// item 11).
#[derive(Clone, Debug)]
pub struct TimestampMap {
    slots: Vec<Slot>,
    /// Ring position of the oldest saved reply.
    first: usize,
    /// Replies saved.
    len: usize,
}

/// Memory of one saved timestamp, bytes.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// A receive timestamp this far (1 s, in NTP units) before the newest saved one means
/// the clock went back: the saved replies "from the future" are dropped.
const FUTURE_LIMIT: u64 = 1 << 32;
/// A receive timestamp older than the newest (replies sent out of order, by worker
/// threads) is inserted if at most this many saved ones are newer; else not saved.
const INSERT_LIMIT: usize = 64;

impl TimestampMap {
    /// A map of at most `slots` timestamps (a power of two, rounded down, at least one).
    pub fn new(slots: usize) -> TimestampMap {
        TimestampMap {
            slots: vec![EMPTY; crate::client_table::prev_power_of_two(slots)],
            first: 0,
            len: 0,
        }
    }

    /// The map's memory, bytes (allocated once, in `new`).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    /// Replies saved now.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, index: usize) -> &Slot {
        &self.slots[(self.first + index) & (self.slots.len() - 1)]
    }

    fn at_mut(&mut self, index: usize) -> &mut Slot {
        let mask = self.slots.len() - 1;
        &mut self.slots[(self.first + index) & mask]
    }

    /// `rx_key`'s place relative to the oldest saved key (era wraps included).
    fn rank(&self, rx_key: u64) -> i64 {
        rx_key.wrapping_sub(self.at(0).rx_key) as i64
    }

    /// Where `rx_key` is (`Ok`) or would go (`Err`) in the ring: interpolation steps
    /// (the keys are times, about evenly spread) alternating with halving, so a lookup
    /// costs a few probes, not log2(len).
    fn find(&self, rx_key: u64) -> Result<usize, usize> {
        if self.len == 0 {
            return Err(0);
        }
        let target = self.rank(rx_key);
        let (mut lo, mut hi) = (0usize, self.len - 1);
        let (mut lo_rank, mut hi_rank) = (0i64, self.rank(self.at(hi).rx_key));
        if target < lo_rank {
            return Err(0);
        }
        if target > hi_rank {
            return Err(self.len);
        }
        for step in 0.. {
            if target == hi_rank {
                return Ok(hi);
            }
            if target == lo_rank {
                return Ok(lo);
            }
            if hi - lo <= 1 {
                return Err(hi);
            }
            let guess = if step % 2 == 0 && hi_rank > lo_rank {
                let fraction = (target - lo_rank) as f64 / (hi_rank - lo_rank) as f64;
                lo + (fraction * (hi - lo) as f64) as usize
            } else {
                lo + (hi - lo) / 2
            };
            let probe = guess.clamp(lo + 1, hi - 1);
            let probe_rank = self.rank(self.at(probe).rx_key);
            if probe_rank <= target {
                (lo, lo_rank) = (probe, probe_rank);
            } else {
                (hi, hi_rank) = (probe, probe_rank);
            }
        }
        unreachable!("the range shrinks every step")
    }

    /// Append at the newest end, dropping the oldest when full.
    fn push(&mut self, slot: Slot) {
        if self.len == self.slots.len() {
            self.first = (self.first + 1) & (self.slots.len() - 1);
            self.len -= 1;
        }
        let index = self.len;
        self.len += 1;
        *self.at_mut(index) = slot;
    }

    /// A reply carrying receive timestamp `rx_key` was sent at `transmit` (read just
    /// before sending). A key seen twice is disabled, so a reply never carries the
    /// transmit timestamp of another exchange.
    pub fn insert(&mut self, rx_key: u64, transmit: NtpTimestamp, kind: TimestampKind) {
        if rx_key == 0 {
            return;
        }
        let slot = Slot::saved(rx_key, transmit, kind);
        let mut index = match self.find(rx_key) {
            Ok(index) => {
                // The same receive timestamp twice: which transmit belongs to it is unknown.
                self.at_mut(index).transmit_and_kind = 0;
                return;
            }
            Err(index) => index,
        };
        if index == self.len {
            self.push(slot);
            return;
        }
        // Older than the newest: after a backward step drop what is "in the future".
        let newest = self.at(self.len - 1).rx_key;
        if newest.wrapping_sub(rx_key) as i64 > FUTURE_LIMIT as i64 {
            while self.len > index
                && self.at(self.len - 1).rx_key.wrapping_sub(rx_key) as i64 > FUTURE_LIMIT as i64
            {
                self.len -= 1;
            }
            if index == self.len {
                self.push(slot);
                return;
            }
        }
        if self.len - index > INSERT_LIMIT {
            return;
        }
        if self.len == self.slots.len() {
            if index == 0 {
                return; // older than everything kept
            }
            self.first = (self.first + 1) & (self.slots.len() - 1);
            self.len -= 1;
            index -= 1;
        }
        for position in (index..self.len).rev() {
            let moved = *self.at(position);
            *self.at_mut(position + 1) = moved;
        }
        self.len += 1;
        *self.at_mut(index) = slot;
    }

    /// A better transmit timestamp (the kernel's) for the reply that carried `rx_key`;
    /// ignored when it is not better or the reply is no longer in the map.
    pub fn upgrade(&mut self, rx_key: u64, transmit: NtpTimestamp, kind: TimestampKind) {
        if rx_key == 0 {
            return;
        }
        let Ok(index) = self.find(rx_key) else {
            return;
        };
        let slot = self.at_mut(index);
        let Some((_, old)) = slot.transmit() else {
            return;
        };
        if kind_code(kind) >= kind_code(old) {
            *slot = Slot::saved(rx_key, transmit, kind);
        }
    }

    /// The transmit timestamp of the reply that carried `rx_key`, if known.
    pub fn transmit_of(&self, rx_key: u64) -> Option<(NtpTimestamp, TimestampKind)> {
        if rx_key == 0 {
            return None;
        }
        self.find(rx_key)
            .ok()
            .and_then(|index| self.at(index).transmit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transmit timestamp with its two lowest fraction bits clear (the map keeps
    /// the kind there).
    fn ts(n: u64) -> NtpTimestamp {
        NtpTimestamp::from_bits(n << 2)
    }

    #[test]
    fn a_transmit_timestamp_loses_at_most_its_two_lowest_bits() {
        let mut map = TimestampMap::new(64);
        let transmit = NtpTimestamp::from_bits(0xeef4_5080_ffff_ffff);
        for kind in [
            TimestampKind::Daemon,
            TimestampKind::Kernel,
            TimestampKind::Hardware,
        ] {
            map.insert(0x1234, transmit, kind);
            let (saved, saved_kind) = map.transmit_of(0x1234).expect("saved");
            assert_eq!(saved_kind, kind);
            assert_eq!(saved.to_bits(), 0xeef4_5080_ffff_fffc);
            // Forget it (a repeated key disables the slot) before the next kind.
            map.insert(0x1234, transmit, kind);
            assert_eq!(map.transmit_of(0x1234), None);
            map = TimestampMap::new(64);
        }
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn saves_and_upgrades_transmit_timestamps() {
        let mut map = TimestampMap::new(64);
        assert_eq!(map.transmit_of(0xeef4_5080_1234_5678), None);
        map.insert(0xeef4_5080_1234_5678, ts(10), TimestampKind::Daemon);
        assert_eq!(
            map.transmit_of(0xeef4_5080_1234_5678),
            Some((ts(10), TimestampKind::Daemon))
        );
        map.upgrade(0xeef4_5080_1234_5678, ts(11), TimestampKind::Kernel);
        map.upgrade(0xeef4_5080_1234_5678, ts(12), TimestampKind::Daemon);
        assert_eq!(
            map.transmit_of(0xeef4_5080_1234_5678),
            Some((ts(11), TimestampKind::Kernel))
        );
        assert_eq!(map.transmit_of(0xeef4_5080_1234_5679), None);
        assert_eq!(map.transmit_of(0), None);
    }

    #[test]
    fn a_repeated_receive_timestamp_is_disabled() {
        let mut map = TimestampMap::new(64);
        map.insert(77, ts(1), TimestampKind::Daemon);
        map.insert(77, ts(3), TimestampKind::Daemon);
        assert_eq!(map.transmit_of(77), None);
        map.upgrade(77, ts(2), TimestampKind::Kernel);
        assert_eq!(map.transmit_of(77), None);
        map.upgrade(78, ts(2), TimestampKind::Kernel);
        assert_eq!(map.transmit_of(78), None);
    }

    #[test]
    fn fixed_size_under_many_keys() {
        let mut map = TimestampMap::new(128);
        for key in 1..100_000u64 {
            map.insert(key << 20, ts(key), TimestampKind::Daemon);
        }
        assert_eq!(map.slots.len(), 128);
        assert_eq!(map.len(), 128);
        assert_eq!(
            map.transmit_of(99_999 << 20),
            Some((ts(99_999), TimestampKind::Daemon))
        );
        // Exactly the newest 128 are kept.
        assert!(map.transmit_of((99_999 - 127) << 20).is_some());
        assert_eq!(map.transmit_of((99_999 - 128) << 20), None);
    }

    /// Issue 19 item 11: at a tenth of its size the map lost a tenth of the replies
    /// (hash collisions); now every client whose previous reply is among the newest
    /// `slots` replies gets it back, whatever the keys.
    #[test]
    fn nothing_is_lost_below_capacity() {
        let mut map = TimestampMap::new(16_384);
        let mut x = 0x1234_5678_9abc_def0_u64;
        let mut key = 0xeef4_5080_0000_0000_u64;
        let mut keys = Vec::new();
        // 1687 clients (the attack run's count), ten rounds, random spacing.
        for _ in 0..16_870 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key += 1 + (x % 10_000_000);
            map.insert(key, ts(key & 0xffff), TimestampKind::Kernel);
            keys.push(key);
        }
        let last_round = &keys[keys.len() - 1_687..];
        let found = last_round
            .iter()
            .filter(|&&key| map.transmit_of(key).is_some())
            .count();
        assert_eq!(found, 1_687);
        // All of the last 16384 are there, none older.
        assert!(keys[keys.len() - 16_384..]
            .iter()
            .all(|&key| map.transmit_of(key).is_some()));
        assert_eq!(map.transmit_of(keys[keys.len() - 16_385]), None);
    }

    #[test]
    fn out_of_order_and_backward_steps() {
        // Worker threads send replies a little out of order (here ~25-75 ms apart).
        let base = 1_000u64 << 32;
        let mut map = TimestampMap::new(64);
        for key in [100u64, 300, 200, 250] {
            map.insert(base + (key << 24), ts(key), TimestampKind::Daemon);
        }
        for key in [100u64, 200, 250, 300] {
            assert_eq!(
                map.transmit_of(base + (key << 24)),
                Some((ts(key), TimestampKind::Daemon))
            );
        }
        assert_eq!(map.transmit_of(base + (150 << 24)), None);
        // The clock went back 200 s: the replies "from the future" go, new ones are kept.
        let earlier = base - (200 << 32);
        map.insert(earlier, ts(7), TimestampKind::Daemon);
        assert_eq!(map.transmit_of(base + (300 << 24)), None);
        assert_eq!(
            map.transmit_of(earlier),
            Some((ts(7), TimestampKind::Daemon))
        );
        map.insert(earlier + (1 << 24), ts(8), TimestampKind::Daemon);
        assert_eq!(
            map.transmit_of(earlier + (1 << 24)),
            Some((ts(8), TimestampKind::Daemon))
        );
        // The NTP era wraps (2036) without losing order.
        let mut map = TimestampMap::new(64);
        for key in [u64::MAX - (2 << 32), u64::MAX - (1 << 32), 5 << 32, 6 << 32] {
            map.insert(key, ts(key & 0xff), TimestampKind::Daemon);
        }
        assert!(map.transmit_of(u64::MAX - (2 << 32)).is_some());
        assert!(map.transmit_of(6 << 32).is_some());
    }
}
