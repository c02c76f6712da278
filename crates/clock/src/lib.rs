//! gnomon-clock: the time as an interval, `now ± bound`, for applications.
//!
//! gnomond (with the `clockbound FILE` directive) publishes its clock error bound in a
//! small file, by default `/run/gnomon/clockbound`; [`ClockBound::now`] reads the
//! system clock and that file and returns the earliest and latest time that true time
//! can be, with the daemon's status (synchronized, free-running, unknown). The layout
//! is in [`layout`] and docs/bounded-time.md.
//!
//! Owns: the file format, the writer's update protocol ([`writer`]) and the reader.
//! Must not: know about NTP, the engine or the daemon's state.
//!
//! **How a read works, and why there is no `unsafe`.** The file is read with `pread`
//! (std's `FileExt::read_at` on a descriptor opened once), not mapped: a mapping
//! would need an `unsafe` block and a promise that nobody truncates the file under
//! it, while three small `pread`s cost about 2 µs per `now()` (measured; see
//! docs/bounded-time.md), fine for timestamping events but not for a hot loop. A read is a
//! sequence lock over the file: read the generation, read the record, read the
//! generation again; the record counts only if both generations are equal and even
//! (the writer makes the generation odd, writes, and makes it even again, each in its
//! own `pwrite`). A reader that keeps seeing a write in progress (a writer that died
//! mid-write) gives up after a bounded number of tries and says unknown.
//! So `now()` makes these system calls and no others: one `clock_gettime`
//! (CLOCK_REALTIME, usually the vDSO) and three `pread`s; it allocates nothing, takes
//! no lock and is safe from any number of threads at once (`ClockBound` is `Sync`).
//!
//! **Never a wrong bound.** A missing file, a foreign or torn record, a writer whose
//! heartbeat is older than the staleness limit it wrote, or a status of unknown all
//! give [`Status::Unknown`] with an unbounded interval (`i64::MIN`..`i64::MAX`), which
//! is true but useless, never a narrow interval that might be false.

#![forbid(unsafe_code)]

pub mod layout;
pub mod writer;

pub use layout::{Record, Status};
pub use writer::Writer;

use layout::{GENERATION_OFFSET, MAGIC, PAYLOAD_BYTES, PAYLOAD_OFFSET, RECORD_BYTES, VERSION};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where gnomond publishes by default.
pub const DEFAULT_PATH: &str = "/run/gnomon/clockbound";
/// Reads attempted while the writer is mid-update before giving up (unknown).
const MAX_READ_ATTEMPTS: usize = 64;
/// A heartbeat this far in the reader's future means the clock went back: unknown.
const MAX_FUTURE_HEARTBEAT_NS: i64 = 1_000_000_000;

/// The time now as an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The system clock's reading (Unix ns).
    pub clock_ns: i64,
    /// True time is at or after this (Unix ns); `i64::MIN` when unknown.
    pub earliest_ns: i64,
    /// True time is at or before this (Unix ns); `i64::MAX` when unknown.
    pub latest_ns: i64,
    /// The half-width of the interval, ns; `None` when unknown.
    pub bound_ns: Option<u64>,
    pub status: Status,
}

impl Now {
    fn unknown(clock_ns: i64) -> Now {
        Now {
            clock_ns,
            earliest_ns: i64::MIN,
            latest_ns: i64::MAX,
            bound_ns: None,
            status: Status::Unknown,
        }
    }
}

/// A reader of the clockbound file, opened once and shared by any number of threads.
#[derive(Debug)]
pub struct ClockBound {
    path: PathBuf,
    file: Option<File>,
}

impl ClockBound {
    /// Open `path`. A missing file is not an error: every `now()` then says unknown
    /// (the daemon creates the file in place, so open again after it has started).
    pub fn open(path: impl AsRef<Path>) -> ClockBound {
        let path = path.as_ref().to_owned();
        let file = File::open(&path).ok();
        ClockBound { path, file }
    }

    /// Open [`DEFAULT_PATH`].
    pub fn open_default() -> ClockBound {
        ClockBound::open(DEFAULT_PATH)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file could be opened.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The time now as an interval that contains true time (see the crate doc).
    pub fn now(&self) -> Now {
        let clock_ns = realtime_ns();
        match self.file.as_ref().and_then(|file| read_record(file).ok()) {
            Some(Some(record)) => interval(&record, clock_ns),
            _ => Now::unknown(clock_ns),
        }
    }

    /// The last consistent record in the file, as written (no staleness check).
    pub fn record(&self) -> io::Result<Option<Record>> {
        match &self.file {
            Some(file) => read_record(file),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no clockbound file",
            )),
        }
    }
}

/// CLOCK_REALTIME as Unix nanoseconds (before 1970 counts as 0).
pub fn realtime_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos().min(i64::MAX as u128) as i64)
}

/// The interval that `record` gives at system-clock reading `clock_ns`.
pub fn interval(record: &Record, clock_ns: i64) -> Now {
    let heartbeat_age_ns = i128::from(clock_ns) - i128::from(record.written_ns);
    if record.status == Status::Unknown
        || heartbeat_age_ns > i128::from(record.stale_after_ns)
        || heartbeat_age_ns < -i128::from(MAX_FUTURE_HEARTBEAT_NS)
    {
        return Now::unknown(clock_ns);
    }
    let age_ns = (i128::from(clock_ns) - i128::from(record.as_of_ns)).max(0);
    let growth_ns = age_ns * i128::from(record.drift_ppb) / 1_000_000_000;
    let bound_ns = i128::from(record.bound_ns) + growth_ns;
    if bound_ns > i128::from(i64::MAX / 4) {
        return Now::unknown(clock_ns);
    }
    let clock = i128::from(clock_ns);
    Now {
        clock_ns,
        earliest_ns: (clock - bound_ns).max(i128::from(i64::MIN)) as i64,
        latest_ns: (clock + bound_ns).min(i128::from(i64::MAX)) as i64,
        bound_ns: Some(bound_ns as u64),
        status: record.status,
    }
}

fn read_generation(file: &File) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, GENERATION_OFFSET)?;
    Ok(u64::from_le_bytes(bytes))
}

/// One consistent record (seqlock read), `None` if the file is not a clockbound file
/// of this version or the writer stayed mid-write for every attempt.
pub fn read_record(file: &File) -> io::Result<Option<Record>> {
    for _ in 0..MAX_READ_ATTEMPTS {
        let before = read_generation(file)?;
        if before % 2 == 1 {
            std::thread::yield_now();
            continue;
        }
        let mut bytes = [0u8; RECORD_BYTES];
        file.read_exact_at(&mut bytes, 0)?;
        let after = read_generation(file)?;
        if before != after {
            continue;
        }
        if bytes[0..4] != MAGIC || bytes[4..8] != VERSION.to_le_bytes() {
            return Ok(None);
        }
        let mut payload = [0u8; PAYLOAD_BYTES];
        payload.copy_from_slice(&bytes[PAYLOAD_OFFSET as usize..]);
        return Ok(Some(layout::decode_payload(&payload)));
    }
    Ok(None)
}
