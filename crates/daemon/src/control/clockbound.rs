//! Publishing now ± bound in the `clockbound FILE` (gnomon-clock reads it).
//!
//! Owns turning the engine's clock error bound into a [`Record`] for the system clock
//! and deciding the status: synchronized while the engine is; free-running (holdover)
//! after it was and no longer is, with the last good bound growing at the drift rate
//! from then on; unknown before the first synchronisation and after a clean exit.
//! Writes at most once a second, plus at every clock update. Must not decide anything
//! about the clock itself.

use gnomon_clock::{Record, Status, Writer};
use gnomon_config::ClockBoundConfig;
use gnomon_core::engine::Engine;
use gnomon_proto::UnixTime;
use std::io;

/// A reader whose writer has not written for this long says unknown. The main loop
/// turns at least once a minute (MAX_POLL_WAIT), so this leaves room for two misses.
pub const STALE_AFTER_NS: u64 = 150_000_000_000;
/// Least time between two writes without a clock update in between.
const MIN_WRITE_INTERVAL_NS: i64 = 1_000_000_000;

/// The bound at `clock_now` for a reader of the system clock at `system_ns`, seconds:
/// the disciplined clock's reading bound ([`ClockErrorBound::reading_bound_s`]: root
/// delay/2 + root dispersion of the corrected clock + the correction still to be
/// slewed now, as `tracking` reports it) + the gap between the system clock and the
/// disciplined clock (0 unless that one is virtual, as with `-x`). None while the
/// engine is not synchronised.
///
/// [`ClockErrorBound::reading_bound_s`]: gnomon_core::system::ClockErrorBound::reading_bound_s
pub fn system_bound_s(engine: &Engine, clock_now: UnixTime, system_ns: i64) -> Option<f64> {
    let bound = engine.clock_error_bound(clock_now);
    let gap_s = (clock_now.as_nanos() - system_ns) as f64 * 1e-9;
    (bound.synchronized && bound.bound_s.is_finite()).then(|| bound.reading_bound_s() + gap_s.abs())
}

/// The writer and what it last published.
pub struct ClockBoundPublisher {
    writer: Writer,
    max_drift_ppm: f64,
    last_good: Option<Record>,
    last_write_ns: i64,
    last_updates: u32,
}

impl ClockBoundPublisher {
    pub fn open(config: &ClockBoundConfig) -> io::Result<ClockBoundPublisher> {
        Ok(ClockBoundPublisher {
            writer: Writer::create(&config.path)?,
            max_drift_ppm: config.max_drift_ppm,
            last_good: None,
            last_write_ns: i64::MIN,
            last_updates: u32::MAX,
        })
    }

    /// Publish if a second has passed or the clock was updated since the last write.
    pub fn publish(&mut self, engine: &Engine, clock_now: UnixTime, monotonic_ns: i64) {
        let updates = engine.discipline().updates();
        if updates == self.last_updates
            && monotonic_ns.saturating_sub(self.last_write_ns) < MIN_WRITE_INTERVAL_NS
        {
            return;
        }
        self.last_updates = updates;
        self.last_write_ns = monotonic_ns;
        let system_ns = gnomon_clock::realtime_ns();
        let drift_ppm = self
            .max_drift_ppm
            .max(engine.system_variables().dispersion_rate_ppm);
        let bound_s = system_bound_s(engine, clock_now, system_ns);
        let record = next_record(bound_s, self.last_good, system_ns, drift_ppm);
        if record.status == Status::Synchronized {
            self.last_good = Some(record);
        }
        if let Err(error) = self.writer.publish(&record) {
            tracing::warn!(
                "{}: cannot publish the bound: {error}",
                self.writer.path().display()
            );
        }
    }
}

/// What to publish at `system_ns`: synchronized with `bound_s` when there is one; else
/// free-running from the last synchronized record (same `as_of_ns` and bound, so a
/// reader grows it from then), or unknown if there never was one.
pub fn next_record(
    bound_s: Option<f64>,
    last_good: Option<Record>,
    system_ns: i64,
    drift_ppm: f64,
) -> Record {
    match (bound_s, last_good) {
        (Some(bound_s), _) => Record {
            as_of_ns: system_ns,
            bound_ns: (bound_s * 1e9).ceil() as u64,
            drift_ppb: (drift_ppm * 1e3).ceil() as u64,
            written_ns: system_ns,
            stale_after_ns: STALE_AFTER_NS,
            status: Status::Synchronized,
        },
        (None, Some(good)) => Record {
            written_ns: system_ns,
            status: Status::FreeRunning,
            ..good
        },
        (None, None) => unknown(system_ns),
    }
}

fn unknown(system_ns: i64) -> Record {
    Record {
        as_of_ns: system_ns,
        bound_ns: 0,
        drift_ppb: 0,
        written_ns: system_ns,
        stale_after_ns: STALE_AFTER_NS,
        status: Status::Unknown,
    }
}

impl Drop for ClockBoundPublisher {
    /// A daemon that stops cleanly leaves "unknown", not a bound nobody maintains.
    fn drop(&mut self) {
        let _ = self.writer.publish(&unknown(gnomon_clock::realtime_ns()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000_000_000;

    #[test]
    fn synchronized_then_free_running_then_a_reader_sees_the_bound_grow() {
        assert_eq!(next_record(None, None, T0, 15.0).status, Status::Unknown);
        let good = next_record(Some(0.000_25), None, T0, 15.0);
        assert_eq!(good.status, Status::Synchronized);
        assert_eq!((good.bound_ns, good.drift_ppb), (250_000, 15_000));
        // Sources lost 100 s later: the last good bound, a fresh heartbeat.
        let later = T0 + 100_000_000_000;
        let holdover = next_record(None, Some(good), later, 15.0);
        assert_eq!(holdover.status, Status::FreeRunning);
        assert_eq!((holdover.as_of_ns, holdover.bound_ns), (T0, 250_000));
        assert_eq!(holdover.written_ns, later);
        let seen = gnomon_clock::interval(&holdover, later);
        assert_eq!(seen.status, Status::FreeRunning);
        assert_eq!(
            seen.bound_ns,
            Some(250_000 + 1_500_000),
            "grown by 15 ppm x 100 s"
        );
        // Back in sync: a fresh bound again.
        let resynced = next_record(Some(0.000_3), Some(good), later, 15.0);
        assert_eq!(
            (resynced.status, resynced.as_of_ns),
            (Status::Synchronized, later)
        );
    }
}
