//! Fuzz the client side of the engine: a sequence of arbitrary replies fed to
//! `Engine::on_response` for sources with outstanding requests, between the timer
//! events that send them.
//!
//! A reply is either raw bytes (with our request's cookie spliced in as origin, or
//! not) or a well-formed server reply whose offset (up to ±292 years), delay, leap,
//! stratum, root delay/dispersion and timestamps the input chooses, so samples reach
//! the estimator, selection and the discipline. Asserts: never a panic, and no NaN or
//! infinity in anything the engine outputs (clock actions, update outcomes, the
//! maxchange offset), in the system variables it serves from, or in the error bound
//! it reports while synchronised.
#![no_main]

use gnomon_core::discipline::{DisciplineOptions, MakeStep, MaxChange};
use gnomon_core::engine::{Engine, EngineConfig, EngineOutput};
use gnomon_core::source_options::{SourceOptions, MAX_POLL_EXPONENT, MIN_POLL_EXPONENT};
use gnomon_core::{ClockAction, SavedFrequency, SourceId, UpdateOutcome};
use gnomon_proto::{
    LeapIndicator, Mode, NtpHeader, NtpShort, NtpTimestamp, ReferenceId, UnixTime, HEADER_LEN,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const START_NS: i64 = 1_795_824_000 * 1_000_000_000;

fn finite(what: &str, value: f64) {
    assert!(value.is_finite(), "{what} is {value}");
}

fn check(outputs: &[EngineOutput]) {
    for output in outputs {
        match output {
            EngineOutput::Clock(ClockAction::SetFrequency {
                frequency_ppm,
                slew_ppm,
            }) => {
                finite("frequency_ppm", *frequency_ppm);
                finite("slew_ppm", *slew_ppm);
            }
            EngineOutput::Clock(ClockAction::Step { offset_s }) => finite("step", *offset_s),
            EngineOutput::Clock(ClockAction::SetSynchronized {
                max_error_s,
                est_error_s,
                ..
            }) => {
                finite("max_error_s", *max_error_s);
                finite("est_error_s", *est_error_s);
            }
            EngineOutput::Clock(ClockAction::SetLeap(_)) => {}
            EngineOutput::Updated { outcome, .. } => match outcome {
                UpdateOutcome::Slewed {
                    offset_s,
                    duration_s,
                } => {
                    finite("slewed offset", *offset_s);
                    finite("slew duration", *duration_s);
                }
                UpdateOutcome::Stepped { offset_s }
                | UpdateOutcome::Ignored { offset_s }
                | UpdateOutcome::MaxChangeExceeded { offset_s } => {
                    finite("update offset", *offset_s)
                }
            },
            EngineOutput::MaxChangeExceeded { offset_s } => finite("maxchange offset", *offset_s),
            EngineOutput::Send { .. }
            | EngineOutput::SourceStopped { .. }
            | EngineOutput::SelectionChanged { .. } => {}
        }
    }
}

fn check_state(engine: &Engine, now: UnixTime) {
    let system = engine.system_variables();
    for (what, value) in [
        ("root_delay_s", system.root_delay_s),
        ("root_dispersion_s", system.root_dispersion_s),
        ("pending_correction_s", system.pending_correction_s),
        ("dispersion_rate_ppm", system.dispersion_rate_ppm),
        ("frequency_ppm", system.frequency_ppm),
        ("skew_ppm", system.skew_ppm),
        ("estimated_error_s", system.estimated_error_s),
        ("last_offset_s", system.last_offset_s),
        ("rms_offset_s", system.rms_offset_s),
        ("update_interval_s", system.update_interval_s),
    ] {
        finite(what, value);
    }
    let bound = engine.clock_error_bound(now);
    finite("bound offset", bound.offset_s);
    if bound.synchronized {
        finite("bound", bound.bound_s);
    }
    let saved = engine.saved_frequency();
    finite("saved frequency", saved.frequency_ppm);
    finite("saved skew", saved.skew_ppm);
}

fn ms(u: &mut Unstructured, max: u32) -> Result<i64> {
    Ok(i64::from(u.int_in_range(0..=max)?) * 1_000_000)
}

fn config(u: &mut Unstructured) -> Result<EngineConfig> {
    let mut discipline = DisciplineOptions::default();
    if u.arbitrary()? {
        discipline.makestep = Some(MakeStep {
            threshold_s: f64::from(u.int_in_range(0..=10_000u16)?) / 1000.0,
            limit: u.int_in_range(-1..=3i32)?,
        });
    }
    if u.arbitrary()? {
        discipline.maxchange = Some(MaxChange {
            offset_s: f64::from(u.int_in_range(1..=1000u16)?) / 10.0,
            start: u.int_in_range(0..=3u32)?,
            ignore: u.int_in_range(-1..=2i32)?,
        });
    }
    let saved_frequency = if u.arbitrary()? {
        Some(SavedFrequency {
            frequency_ppm: f64::from(u.int_in_range(-500_000..=500_000i32)?) / 1000.0,
            skew_ppm: f64::from(u.int_in_range(0..=100_000u32)?) / 1000.0,
        })
    } else {
        None
    };
    Ok(EngineConfig {
        discipline,
        saved_frequency,
        ..EngineConfig::default()
    })
}

fn source_options(u: &mut Unstructured) -> Result<SourceOptions> {
    let a = u.int_in_range(MIN_POLL_EXPONENT..=MAX_POLL_EXPONENT)?;
    let b = u.int_in_range(MIN_POLL_EXPONENT..=MAX_POLL_EXPONENT)?;
    Ok(SourceOptions {
        minpoll: a.min(b),
        maxpoll: a.max(b),
        iburst: u.arbitrary()?,
        burst: u.arbitrary()?,
        prefer: u.arbitrary()?,
        trust: u.arbitrary()?,
        offset_s: f64::from(u.arbitrary::<i16>()?) / 1000.0,
        ..SourceOptions::default()
    })
}

/// A server's reply to `request` (sent at `sent_ns`), shaped by the input.
fn reply(u: &mut Unstructured, request: &[u8; HEADER_LEN], sent_ns: i64) -> Result<Vec<u8>> {
    let (cookie, _) = NtpHeader::parse(request).expect("our own request parses");
    if u.int_in_range(0..=3u8)? == 0 {
        // Raw bytes, with or without our cookie as origin.
        let len = u.int_in_range(0..=120u8)?;
        let mut bytes = u.bytes(usize::from(len).min(u.len()))?.to_vec();
        if bytes.len() >= HEADER_LEN && u.arbitrary()? {
            bytes[24..32].copy_from_slice(&cookie.transmit_timestamp.to_be_bytes());
        }
        return Ok(bytes);
    }
    let offset_ns: i64 = match u.int_in_range(0..=2u8)? {
        0 => i64::from(u.arbitrary::<i32>()?),
        1 => i64::from(u.arbitrary::<i32>()?) * 1000,
        _ => u.arbitrary()?,
    };
    let receive_ns = sent_ns
        .saturating_add(offset_ns)
        .saturating_add(i64::from(u.arbitrary::<u16>()?) * 1000);
    let transmit_ns = receive_ns.saturating_add(i64::from(u.arbitrary::<u16>()?) * 100);
    let header = NtpHeader {
        leap: LeapIndicator::from_bits(u.int_in_range(0..=3u8)?),
        version: u.int_in_range(3..=4u8)?,
        mode: Mode::Server,
        stratum: u.arbitrary()?,
        poll: u.arbitrary()?,
        precision: u.arbitrary()?,
        root_delay: NtpShort::from_bits(u.arbitrary::<u32>()? >> u.int_in_range(0..=31u8)?),
        root_dispersion: NtpShort::from_bits(u.arbitrary::<u32>()? >> u.int_in_range(0..=31u8)?),
        reference_id: ReferenceId::from_u32(u.arbitrary()?),
        reference_timestamp: NtpTimestamp::from_unix(UnixTime::from_nanos(
            receive_ns.saturating_sub(ms(u, 100_000)?),
        )),
        origin_timestamp: cookie.transmit_timestamp,
        receive_timestamp: NtpTimestamp::from_unix(UnixTime::from_nanos(receive_ns)),
        transmit_timestamp: NtpTimestamp::from_unix(UnixTime::from_nanos(transmit_ns)),
    };
    Ok(header.to_bytes().to_vec())
}

/// A source's last request and when it was sent (ns).
type Outstanding = ([u8; HEADER_LEN], i64);

fn run(u: &mut Unstructured) -> Result<()> {
    let mut engine = Engine::new(config(u)?, [5; 32]);
    let mut now_ns = START_NS;
    check(&engine.start(UnixTime::from_nanos(now_ns)));
    let mut sources: Vec<(SourceId, Option<Outstanding>)> = Vec::new();
    for index in 0..u.int_in_range(1..=3u32)? {
        let options = source_options(u)?;
        let id = engine
            .add_source(
                options,
                ReferenceId::from_u32(0x7f00_0001 + index),
                UnixTime::from_nanos(now_ns),
            )
            .expect("valid options");
        sources.push((id, None));
    }
    for _ in 0..u.int_in_range(1..=64u8)? {
        // The next timer event, or a little before or after it.
        if let Some(deadline) = engine.next_deadline() {
            if u.arbitrary()? {
                now_ns = now_ns.max(deadline.as_nanos());
            }
        }
        now_ns = now_ns.saturating_add(ms(u, 2_000)?);
        let now = UnixTime::from_nanos(now_ns);
        let outputs = engine.on_timer(now);
        check(&outputs);
        for output in &outputs {
            if let EngineOutput::Send { source, packet } = output {
                if let Some(slot) = sources.iter_mut().find(|(id, _)| id == source) {
                    slot.1 = Some((*packet, now_ns));
                }
            }
        }
        check_state(&engine, now);
        // Replies to (some of) the outstanding requests, possibly repeated.
        for _ in 0..u.int_in_range(0..=3u8)? {
            let index = usize::from(u.arbitrary::<u8>()?) % sources.len();
            let (id, outstanding) = sources[index];
            let Some((request, sent_ns)) = outstanding else {
                continue;
            };
            if u.arbitrary()? {
                engine.on_transmit_timestamp(id, UnixTime::from_nanos(sent_ns + ms(u, 1)?));
            }
            let bytes = reply(u, &request, sent_ns)?;
            let delay_ns = i64::from(u.arbitrary::<i32>()?);
            let received_at = UnixTime::from_nanos(sent_ns.saturating_add(delay_ns));
            now_ns = now_ns.max(received_at.as_nanos());
            let now = UnixTime::from_nanos(now_ns);
            if let Ok(outputs) = engine.on_response(id, &bytes, received_at, now) {
                check(&outputs);
            }
            check_state(&engine, now);
        }
        if u.int_in_range(0..=15u8)? == 0 {
            check(&engine.make_step(UnixTime::from_nanos(now_ns)));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
