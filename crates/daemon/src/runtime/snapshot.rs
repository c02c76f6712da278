//! A lock-free snapshot of what server worker threads need from the main thread.
//!
//! Owns publishing the serving fields of the system variables and the mapping from
//! the system clock to the disciplined clock (a line through one point, exact for
//! the clocks gnomond has between two clock changes) as a sequence lock over atomic
//! words: the main thread (the only writer) publishes after each turn, workers read
//! without locking and retry (bounded) while a write is in progress. It must not
//! block, allocate, or hold anything the engine owns.

use gnomon_core::system::SystemVariables;
use gnomon_proto::{LeapIndicator, NtpDuration, ReferenceId, UnixTime};
use std::sync::atomic::{fence, AtomicU64, Ordering};

const WORDS: usize = 11;
/// Reads attempted before a reader falls back to its previous copy.
const MAX_READ_ATTEMPTS: usize = 1000;

/// What a worker needs to answer a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServingSnapshot {
    pub system: SystemVariables,
    /// A system-clock reading and the disciplined clock's time at that moment.
    pub system_at: UnixTime,
    pub clock_at: UnixTime,
    /// How much faster the disciplined clock runs than the system clock (1e-6 = 1 ppm).
    pub clock_rate_offset: f64,
}

impl ServingSnapshot {
    /// The disciplined clock's time at system-clock reading `system`.
    pub fn clock_time_of_system(&self, system: UnixTime) -> UnixTime {
        let elapsed_ns = system.as_nanos() - self.system_at.as_nanos();
        let extra_ns = (elapsed_ns as f64 * self.clock_rate_offset) as i64;
        self.clock_at
            .add(NtpDuration::from_nanos(elapsed_ns.saturating_add(extra_ns)))
    }
}

/// The shared cell.
#[derive(Debug, Default)]
pub struct SnapshotCell {
    sequence: AtomicU64,
    words: [AtomicU64; WORDS],
}

fn encode(snapshot: &ServingSnapshot) -> [u64; WORDS] {
    let system = &snapshot.system;
    let flags = u64::from(system.synchronized)
        | u64::from(system.local_reference) << 1
        | u64::from(system.reference_time.is_some()) << 2
        | u64::from(system.leap.to_bits()) << 8
        | u64::from(system.stratum) << 16
        | u64::from(system.precision as u8) << 24
        | u64::from(system.reference_id.to_u32()) << 32;
    [
        flags,
        system.reference_time.map_or(0, |t| t.as_nanos() as u64),
        system.root_delay_s.to_bits(),
        system.root_dispersion_s.to_bits(),
        system.dispersion_rate_ppm.to_bits(),
        system.frequency_ppm.to_bits(),
        system.estimated_error_s.to_bits(),
        snapshot.system_at.as_nanos() as u64,
        snapshot.clock_at.as_nanos() as u64,
        snapshot.clock_rate_offset.to_bits(),
        system.skew_ppm.to_bits(),
    ]
}

fn decode(words: &[u64; WORDS]) -> ServingSnapshot {
    let flags = words[0];
    let mut system = SystemVariables::unsynchronized((flags >> 24) as u8 as i8);
    system.synchronized = flags & 1 != 0;
    system.local_reference = flags & 2 != 0;
    system.reference_time = (flags & 4 != 0).then(|| UnixTime::from_nanos(words[1] as i64));
    system.leap = LeapIndicator::from_bits((flags >> 8) as u8);
    system.stratum = (flags >> 16) as u8;
    system.reference_id = ReferenceId::from_u32((flags >> 32) as u32);
    system.root_delay_s = f64::from_bits(words[2]);
    system.root_dispersion_s = f64::from_bits(words[3]);
    system.dispersion_rate_ppm = f64::from_bits(words[4]);
    system.frequency_ppm = f64::from_bits(words[5]);
    system.estimated_error_s = f64::from_bits(words[6]);
    system.skew_ppm = f64::from_bits(words[10]);
    ServingSnapshot {
        system,
        system_at: UnixTime::from_nanos(words[7] as i64),
        clock_at: UnixTime::from_nanos(words[8] as i64),
        clock_rate_offset: f64::from_bits(words[9]),
    }
}

impl SnapshotCell {
    pub fn new(initial: &ServingSnapshot) -> SnapshotCell {
        let cell = SnapshotCell::default();
        cell.publish(initial);
        cell
    }

    /// Publish (one writer only: the main thread).
    pub fn publish(&self, snapshot: &ServingSnapshot) {
        let words = encode(snapshot);
        self.sequence.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        self.sequence.fetch_add(1, Ordering::Release);
    }

    /// A consistent copy, or None if every bounded attempt met a write in progress.
    pub fn read(&self) -> Option<ServingSnapshot> {
        for _ in 0..MAX_READ_ATTEMPTS {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; WORDS];
            for (word, cell) in words.iter_mut().zip(&self.words) {
                *word = cell.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return Some(decode(&words));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn sample(stratum: u8) -> ServingSnapshot {
        let mut system = SystemVariables::unsynchronized(-23);
        system.synchronized = true;
        system.leap = LeapIndicator::NoWarning;
        system.stratum = stratum;
        system.reference_id = ReferenceId::from_u32(0x0a00_0001 + u32::from(stratum));
        system.reference_time = Some(UnixTime::from_secs(1_800_000_000));
        system.root_delay_s = 0.001 * f64::from(stratum);
        system.root_dispersion_s = 0.002 * f64::from(stratum);
        system.dispersion_rate_ppm = 15.0;
        ServingSnapshot {
            system,
            system_at: UnixTime::from_secs(1_800_000_010),
            clock_at: UnixTime::from_secs(1_800_000_010).add(NtpDuration::from_nanos(5_000)),
            clock_rate_offset: 2e-6,
        }
    }

    #[test]
    fn round_trip_and_mapping() {
        let cell = SnapshotCell::new(&sample(3));
        let read = cell.read().unwrap();
        assert_eq!(read.system.stratum, 3);
        assert_eq!(read.system.reference_time, sample(3).system.reference_time);
        assert_eq!(read.system.root_delay_s, 0.003);
        assert_eq!(read.system.precision, -23);
        let later = UnixTime::from_secs(1_800_000_011);
        let mapped = read.clock_time_of_system(later);
        assert_eq!(mapped.as_nanos() - later.as_nanos(), 5_000 + 2_000);
    }

    #[test]
    fn readers_never_see_a_torn_write() {
        let cell = Arc::new(SnapshotCell::new(&sample(1)));
        let reader = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || {
                let mut seen = 0;
                for _ in 0..200_000 {
                    if let Some(read) = cell.read() {
                        let stratum = read.system.stratum;
                        assert_eq!(read.system.root_delay_s, 0.001 * f64::from(stratum));
                        assert_eq!(
                            read.system.reference_id.to_u32(),
                            0x0a00_0001 + u32::from(stratum)
                        );
                        seen += 1;
                    }
                }
                seen
            })
        };
        for n in 0..200_000u32 {
            cell.publish(&sample((n % 15) as u8 + 1));
        }
        assert!(reader.join().unwrap() > 0);
    }
}
