//! Server side of NTP interleaved mode: the timestamps of recent replies.
//!
//! Owns a fixed-size map from the receive timestamp a reply carried (as sent, the
//! key a client in interleaved mode echoes in its next request's origin field) to the
//! best transmit timestamp known for that reply: the one read just before sending,
//! replaced by the kernel's when it arrives from the error queue. One map access per
//! reply (at send), one per kernel timestamp, one per request with an origin. A request whose
//! origin is such a key gets an interleaved reply: origin = the request's receive
//! field, receive = this exchange's, transmit = the saved, more accurate transmit
//! timestamp of the earlier reply (RFC 9769, as chrony does). A key seen twice is
//! disabled, so a reply never carries a transmit timestamp of a different exchange.
//!
//! It must not grow (one slot per hash, a newer key replaces an older one), read a
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

    fn disabled(&self) -> bool {
        self.transmit_and_kind & KIND_BITS == 0
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

/// The saved timestamps.
#[derive(Clone, Debug)]
pub struct TimestampMap {
    slots: Vec<Slot>,
}

/// Memory of one saved timestamp, bytes.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

impl TimestampMap {
    /// A map of at most `slots` timestamps (a power of two, rounded down, at least one).
    pub fn new(slots: usize) -> TimestampMap {
        TimestampMap {
            slots: vec![EMPTY; crate::client_table::prev_power_of_two(slots)],
        }
    }

    /// The map's memory, bytes (allocated once, in `new`).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    fn index(&self, rx_key: u64) -> usize {
        // The low bits of an NTP timestamp are its fine fraction; mix in the rest.
        let mixed = rx_key ^ (rx_key >> 29) ^ (rx_key >> 47);
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) as usize & (self.slots.len() - 1)
    }

    /// A reply carrying receive timestamp `rx_key` was sent at `transmit` (read just
    /// before sending). One map access per reply; a key seen twice is disabled.
    pub fn insert(&mut self, rx_key: u64, transmit: NtpTimestamp, kind: TimestampKind) {
        if rx_key == 0 {
            return;
        }
        let index = self.index(rx_key);
        let slot = &mut self.slots[index];
        if slot.rx_key == rx_key && !slot.disabled() {
            // The same receive timestamp twice: which transmit belongs to it is unknown.
            slot.transmit_and_kind = 0;
            return;
        }
        *slot = Slot::saved(rx_key, transmit, kind);
    }

    /// A better transmit timestamp (the kernel's) for the reply that carried `rx_key`;
    /// ignored when it is not better or the reply is no longer in the map.
    pub fn upgrade(&mut self, rx_key: u64, transmit: NtpTimestamp, kind: TimestampKind) {
        let index = self.index(rx_key);
        let slot = &mut self.slots[index];
        if slot.rx_key != rx_key {
            return;
        }
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
        let slot = &self.slots[self.index(rx_key)];
        if slot.rx_key == rx_key {
            slot.transmit()
        } else {
            None
        }
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
        assert_eq!(
            map.transmit_of(99_999 << 20),
            Some((ts(99_999), TimestampKind::Daemon))
        );
    }
}
