//! The clockbound file under concurrency and decay: readers never see a torn record,
//! and anything doubtful reads as unknown, never as a narrow (possibly wrong) bound.

use gnomon_clock::layout::Record;
use gnomon_clock::{interval, realtime_ns, ClockBound, Status, Writer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A record whose every field is a function of `k`, so a mix of two is detectable.
fn record_of(k: u64) -> Record {
    Record {
        as_of_ns: k as i64 * 3,
        bound_ns: k * 5,
        drift_ppb: k * 7,
        written_ns: k as i64 * 11,
        stale_after_ns: k * 13,
        status: if k % 2 == 0 {
            Status::Synchronized
        } else {
            Status::FreeRunning
        },
    }
}

fn k_of(record: &Record) -> Option<u64> {
    let k = record.bound_ns / 5;
    (*record == record_of(k)).then_some(k)
}

#[test]
fn concurrent_reads_during_updates_are_never_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clockbound");
    let mut writer = Writer::create(&path).unwrap();
    writer.publish(&record_of(1)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(2);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let reader = ClockBound::open(&path);
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut reads, mut last_k) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if let Some(record) = reader.record().unwrap() {
                        let k = k_of(&record).unwrap_or_else(|| panic!("torn: {record:?}"));
                        assert!(k >= last_k, "went back from {last_k} to {k}");
                        last_k = k;
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    let mut updates = 0u64;
    let mut k = 1;
    while Instant::now() < deadline && updates < 2_000_000 {
        k += 1;
        writer.publish(&record_of(k)).unwrap();
        updates += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    eprintln!("{updates} updates, {reads} consistent reads");
    assert!(updates > 1000 && reads > 1000);
}

fn fresh(status: Status, bound_ns: u64) -> Record {
    let now = realtime_ns();
    Record {
        as_of_ns: now,
        bound_ns,
        drift_ppb: 15_000,
        written_ns: now,
        stale_after_ns: 150_000_000_000,
        status,
    }
}

#[test]
fn fresh_record_gives_an_interval_around_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clockbound");
    let mut writer = Writer::create(&path).unwrap();
    let reader = ClockBound::open(&path);
    assert_eq!(
        reader.now().status,
        Status::Unknown,
        "unknown until published"
    );
    writer
        .publish(&fresh(Status::Synchronized, 1_000_000))
        .unwrap();
    let now = reader.now();
    assert_eq!(now.status, Status::Synchronized);
    let bound = now.bound_ns.unwrap();
    assert!((1_000_000..1_100_000).contains(&bound), "{bound}");
    assert_eq!(now.latest_ns - now.clock_ns, bound as i64);
    assert_eq!(now.clock_ns - now.earliest_ns, bound as i64);
}

#[test]
fn bound_grows_with_age_at_the_drift_rate() {
    let record = Record {
        as_of_ns: 1_000_000_000_000,
        bound_ns: 500_000,
        drift_ppb: 15_000,
        written_ns: 1_000_000_000_000,
        stale_after_ns: 150_000_000_000,
        status: Status::FreeRunning,
    };
    let later = interval(&record, 1_000_000_000_000 + 10_000_000_000);
    assert_eq!(later.bound_ns, Some(500_000 + 150_000));
    assert_eq!(later.status, Status::FreeRunning);
}

#[test]
fn missing_stale_foreign_and_abandoned_files_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let missing = ClockBound::open(dir.path().join("nothing-here"));
    assert!(!missing.is_open());
    assert_eq!(missing.now().status, Status::Unknown);
    assert_eq!(missing.now().bound_ns, None);

    let path = dir.path().join("clockbound");
    let mut writer = Writer::create(&path).unwrap();
    let reader = ClockBound::open(&path);
    // Stale heartbeat: the writer stopped 200 s ago.
    let mut stale = fresh(Status::Synchronized, 1_000);
    stale.written_ns -= 200_000_000_000;
    writer.publish(&stale).unwrap();
    let now = reader.now();
    assert_eq!((now.status, now.bound_ns), (Status::Unknown, None));
    assert_eq!((now.earliest_ns, now.latest_ns), (i64::MIN, i64::MAX));
    // Heartbeat from the future (the clock went back): unknown.
    let mut future = fresh(Status::Synchronized, 1_000);
    future.written_ns += 10_000_000_000;
    writer.publish(&future).unwrap();
    assert_eq!(reader.now().status, Status::Unknown);
    // Status unknown written explicitly.
    writer.publish(&fresh(Status::Unknown, 1_000)).unwrap();
    assert_eq!(reader.now().bound_ns, None);
    // A writer that died mid-write.
    writer.publish(&fresh(Status::Synchronized, 1_000)).unwrap();
    assert_eq!(reader.now().status, Status::Synchronized);
    writer.begin_write_and_abandon().unwrap();
    assert_eq!(reader.now().status, Status::Unknown);
    // A restarted writer reuses the inode: the old reader sees the new records.
    drop(writer);
    let mut restarted = Writer::create(&path).unwrap();
    assert_eq!(reader.now().status, Status::Unknown);
    restarted
        .publish(&fresh(Status::Synchronized, 2_000))
        .unwrap();
    assert_eq!(reader.now().status, Status::Synchronized);
    // Not a clockbound file.
    let foreign = dir.path().join("foreign");
    std::fs::write(&foreign, [0x5au8; 64]).unwrap();
    assert_eq!(ClockBound::open(&foreign).now().status, Status::Unknown);
    // Too short.
    std::fs::write(&foreign, b"GNCB").unwrap();
    assert_eq!(ClockBound::open(&foreign).now().status, Status::Unknown);
}
