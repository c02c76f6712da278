//! Matching a server socket's kernel TX timestamps to the replies they belong to.
//!
//! Owns the count of timestamped sends on one socket (the kernel numbers each send
//! that asks for a TX timestamp with SOF_TIMESTAMPING_OPT_ID, in the same order) and
//! a fixed ring of those sends' reply keys (the receive timestamp each reply carried). A timestamp
//! whose send has left the ring is ignored. No allocation after `new`, no IO.

/// Sends remembered per socket.
pub const RING_LEN: usize = 4096;

pub struct TxRing {
    sends: u32,
    entries: Box<[(u32, u64)]>,
}

impl Default for TxRing {
    fn default() -> Self {
        TxRing::new()
    }
}

impl TxRing {
    pub fn new() -> TxRing {
        TxRing {
            sends: 0,
            entries: vec![(u32::MAX, 0); RING_LEN].into_boxed_slice(),
        }
    }

    /// A datagram was sent; `reply_key` identifies the reply (0: nothing to match).
    pub fn record(&mut self, reply_key: u64) {
        let slot = self.sends as usize % RING_LEN;
        self.entries[slot] = (self.sends, reply_key);
        self.sends = self.sends.wrapping_add(1);
    }

    /// The reply key of send number `send_index`, once.
    pub fn take(&mut self, send_index: u32) -> Option<u64> {
        let slot = send_index as usize % RING_LEN;
        let (index, key) = self.entries[slot];
        if index != send_index || key == 0 {
            return None;
        }
        self.entries[slot] = (u32::MAX, 0);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_by_send_index_and_forgets_old_sends() {
        let mut ring = TxRing::new();
        ring.record(11);
        ring.record(0);
        ring.record(33);
        assert_eq!(ring.take(0), Some(11));
        assert_eq!(ring.take(0), None);
        assert_eq!(ring.take(1), None);
        assert_eq!(ring.take(2), Some(33));
        for key in 100..100 + RING_LEN as u64 + 10 {
            ring.record(key);
        }
        assert_eq!(ring.take(3), None, "left the ring");
        assert_eq!(
            ring.take(3 + RING_LEN as u32 + 9),
            Some(100 + RING_LEN as u64 + 9)
        );
    }
}
