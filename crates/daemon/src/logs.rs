//! The `log` directive's files in `logdir`: tracking.log, measurements.log and
//! statistics.log, in chrony's column layouts.
//!
//! Owns the file formats, the banner (repeated every 32 lines, as chrony's
//! `logbanner` default) and appending. What to log comes from the engine's state,
//! handed in by the main loop; this module never asks the engine anything.
//! Differences from chrony: measurements.log leaves chrony's test bits and score out
//! (it writes only accepted samples); statistics.log has no Stress/Asym columns.

use gnomon_config::LogSelection;
use gnomon_core::estimator::Estimate;
use gnomon_core::measurement::Sample;
use gnomon_core::system::SystemVariables;
use gnomon_proto::UnixTime;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

const BANNER_EVERY_LINES: u32 = 32;

const TRACKING_HEADER: &str = "   Date (UTC) Time     IP Address   St   Freq ppm   Skew ppm     Offset L Co  Offset sd Rem. corr. Root delay Root disp. Max. error";
const MEASUREMENTS_HEADER: &str = "   Date (UTC) Time     IP Address   L St    Offset  Peer del. Peer disp.  Root del. Root disp. Refid";
const STATISTICS_HEADER: &str = "   Date (UTC) Time     IP Address    Std dev'n Est offset  Offset sd  Diff freq   Est skew  Np  Ns";

struct LogFile {
    file: File,
    header: &'static str,
    lines_since_banner: u32,
}

impl LogFile {
    fn open(dir: &Path, name: &str, header: &'static str) -> std::io::Result<LogFile> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))?;
        Ok(LogFile {
            file,
            header,
            lines_since_banner: BANNER_EVERY_LINES,
        })
    }

    fn write_line(&mut self, line: &str) {
        let mut text = String::new();
        if self.lines_since_banner >= BANNER_EVERY_LINES {
            let rule = "=".repeat(self.header.len());
            text.push_str(&format!("{rule}\n{}\n{rule}\n", self.header));
            self.lines_since_banner = 0;
        }
        text.push_str(line);
        text.push('\n');
        self.lines_since_banner += 1;
        if let Err(error) = self.file.write_all(text.as_bytes()) {
            tracing::warn!("log file: {error}");
        }
    }
}

/// The open log files.
#[derive(Default)]
pub struct Logs {
    tracking: Option<LogFile>,
    measurements: Option<LogFile>,
    statistics: Option<LogFile>,
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc_timestamp(time: UnixTime) -> String {
    let date = gnomon_core::leap::utc_date(time);
    let (secs, _) = time.secs_and_subsec_nanos();
    let second_of_day = secs.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.year,
        date.month,
        date.day,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

fn leap_letter(leap: gnomon_proto::LeapIndicator) -> char {
    match leap {
        gnomon_proto::LeapIndicator::NoWarning => 'N',
        gnomon_proto::LeapIndicator::InsertSecond => '+',
        gnomon_proto::LeapIndicator::DeleteSecond => '-',
        gnomon_proto::LeapIndicator::Unsynchronized => '?',
    }
}

impl Logs {
    /// Open the selected files in `dir`; a file that cannot be opened is logged and skipped.
    /// `selection` is the config's `log` line (raw measurements go to
    /// measurements.log too).
    pub fn open(dir: &Path, selection: &LogSelection) -> Logs {
        let measurements = selection.measurements || selection.raw_measurements;
        let open = |wanted: bool, name: &str, header: &'static str| {
            if !wanted {
                return None;
            }
            LogFile::open(dir, name, header)
                .map_err(|error| tracing::warn!("{}/{name}: {error}", dir.display()))
                .ok()
        };
        Logs {
            tracking: open(selection.tracking, "tracking.log", TRACKING_HEADER),
            measurements: open(measurements, "measurements.log", MEASUREMENTS_HEADER),
            statistics: open(selection.statistics, "statistics.log", STATISTICS_HEADER),
        }
    }

    /// After a clock update: one tracking.log line.
    pub fn tracking(
        &mut self,
        now: UnixTime,
        reference: &str,
        system: &SystemVariables,
        combined: usize,
        remaining_correction_s: f64,
    ) {
        let Some(log) = &mut self.tracking else {
            return;
        };
        let max_error_s = system.root_delay_s / 2.0 + system.root_dispersion_s;
        log.write_line(&format!(
            "{} {:<15} {:2} {:10.3} {:10.3} {:10.3e} {} {:2} {:10.3e} {:10.3e} {:10.3e} {:10.3e} {:10.3e}",
            utc_timestamp(now),
            reference,
            system.stratum,
            -system.frequency_ppm,
            system.skew_ppm,
            system.last_offset_s,
            leap_letter(system.leap),
            combined,
            system.rms_offset_s,
            remaining_correction_s,
            system.root_delay_s,
            system.root_dispersion_s,
            max_error_s
        ));
    }

    /// After an accepted sample: one measurements.log line.
    pub fn measurement(&mut self, address: &str, sample: &Sample) {
        let Some(log) = &mut self.measurements else {
            return;
        };
        log.write_line(&format!(
            "{} {:<15} {} {:2} {:10.3e} {:10.3e} {:10.3e} {:10.3e} {:10.3e} {}",
            utc_timestamp(sample.local_time),
            address,
            leap_letter(sample.leap),
            sample.stratum,
            sample.offset_s,
            sample.delay_s,
            sample.dispersion_s,
            sample.root_delay_s,
            sample.root_dispersion_s,
            sample.reference_id.to_hex()
        ));
    }

    /// After a source's regression was redone: one statistics.log line.
    pub fn statistics(
        &mut self,
        now: UnixTime,
        address: &str,
        estimate: &Estimate,
        samples: usize,
    ) {
        let Some(log) = &mut self.statistics else {
            return;
        };
        log.write_line(&format!(
            "{} {:<15} {:10.3e} {:10.3e} {:10.3e} {:10.3e} {:10.3e} {:3} {:3}",
            utc_timestamp(now),
            address,
            estimate.offset_sd_s,
            estimate.offset_s,
            estimate.offset_error_s,
            estimate.frequency_ppm * 1e-6,
            estimate.skew_ppm * 1e-6,
            samples,
            estimate.samples_used
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_banners_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let tracking_only = LogSelection {
            tracking: true,
            ..LogSelection::default()
        };
        let mut logs = Logs::open(dir.path(), &tracking_only);
        let system = SystemVariables::unsynchronized(-20);
        for _ in 0..33 {
            logs.tracking(
                UnixTime::from_secs(1_795_828_787),
                "127.0.0.1",
                &system,
                1,
                0.0,
            );
        }
        let text = std::fs::read_to_string(dir.path().join("tracking.log")).unwrap();
        assert_eq!(
            text.matches(TRACKING_HEADER).count(),
            2,
            "banner again after 32 lines"
        );
        let line = text.lines().nth(3).unwrap();
        assert!(
            line.starts_with("2026-11-28 01:19:47 127.0.0.1       16 "),
            "{line}"
        );
        assert!(!dir.path().join("measurements.log").exists());
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            utc_timestamp(UnixTime::from_secs(951_782_400)),
            "2000-02-29 00:00:00"
        );
    }
}
