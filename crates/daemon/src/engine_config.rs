//! From the parsed chrony.conf to the engine's settings.
//!
//! Owns the mapping of [`Config`] onto gnomon-core's [`EngineConfig`] and of each
//! `server`/`pool` line onto [`SourceOptions`], and the choice of the leap-second
//! table (`leapseclist` before `leapsectz`, as chronyd 4.6). It resolves no names; the
//! files it reads are `leapsectz`'s time zone and the `leapseclist` file (the drift
//! file's value comes in as an argument).

use gnomon_config::{Config, SourceConfig};
use gnomon_core::discipline::{DisciplineOptions, MakeStep, MaxChange, SavedFrequency};
use gnomon_core::engine::EngineConfig;
use gnomon_core::leap::utc_date;
use gnomon_core::leap_table::LeapTable;
use gnomon_core::selection::SelectionOptions;
use gnomon_core::source_estimator::EstimatorKind;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::LocalStratum;
use gnomon_proto::UnixTime;
use std::path::Path;

/// The engine settings for `config`, with the saved frequency from the drift file
/// and the measured precision of the local clock.
pub fn engine_config(
    config: &Config,
    saved: Option<SavedFrequency>,
    precision_log2: i8,
) -> EngineConfig {
    EngineConfig {
        selection: SelectionOptions {
            minsources: config.min_sources as usize,
            maxdistance_s: config.max_distance_s,
            reselectdist_s: config.tuning.reselect_distance_s,
            stratumweight_s: config.tuning.stratum_weight_s,
            combinelimit: config.tuning.combine_limit,
            maxjitter_s: config.tuning.max_jitter_s,
        },
        discipline: DisciplineOptions {
            makestep: config.makestep.map(|makestep| MakeStep {
                threshold_s: makestep.threshold_s,
                limit: makestep.limit_updates,
            }),
            maxchange: config.maxchange.map(|maxchange| MaxChange {
                offset_s: maxchange.offset_s,
                start: maxchange.start_after_updates.max(0) as u32,
                ignore: maxchange.ignore_count,
            }),
            maxslewrate_ppm: config.max_slew_rate_ppm,
            max_frequency_ppm: config.tuning.max_drift_ppm,
            maxupdateskew_ppm: config.tuning.max_update_skew_ppm,
            corrtimeratio: config.tuning.correction_time_ratio,
        },
        saved_frequency: saved,
        local_stratum: config.local.map(|local| LocalStratum {
            stratum: local.stratum,
            orphan: local.orphan,
            distance_s: local.distance_s,
            wait_unsynced_s: local.wait_unsynced_s,
        }),
        precision_log2: config
            .tuning
            .clock_precision_s
            .map_or(precision_log2, precision_log2_of),
        max_clock_error_ppm: config.tuning.max_clock_error_ppm,
        leap_table: leap_seconds(config, gnomon_sys::timex::realtime_now()),
        ..EngineConfig::default()
    }
}

/// `clockprecision SECONDS` as the log2 exponent NTP announces, rounded as chronyd
/// rounds it (1e-6 s gives -20).
fn precision_log2_of(precision_s: f64) -> i8 {
    precision_s.log2().round().clamp(-30.0, 0.0) as i8
}

/// Where time zones live (chrony reads the same database through the C library).
pub const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";

/// The most bytes read from a `leapsectz` zone or a `leapseclist` file (the real
/// ones are about 1 KiB and 5 KiB).
const LEAP_FILE_MAX_BYTES: u64 = 1 << 20;

/// The leap-second table the engine uses at `now`, as chronyd 4.6 chooses it: the
/// `leapseclist` file when it is usable, else the `leapsectz` zone when it is usable,
/// else none (the sources' majority decides the leap warning). A directive whose file
/// cannot be used is logged, with the file, the line and what to do, and gnomond
/// carries on, as chronyd does; an expired list is still used, with a warning.
pub fn leap_seconds(config: &Config, now: UnixTime) -> Option<LeapTable> {
    let zone = config.leap_sec_tz.as_deref();
    let from_zone = zone.map(|zone| (zone, leap_table_of_zone(zone)));
    let fallback = match &from_zone {
        Some((zone, Ok(_))) => format!("using leapsectz {zone} instead"),
        _ => "using the sources' leap warnings".to_string(),
    };
    if let Some(list) = &config.leap_sec_list {
        match leap_table_of_list(list, now) {
            Ok((table, expired)) => {
                tracing::info!(
                    "Using leap second list {} ({} leap seconds{})",
                    list.display(),
                    table.len(),
                    if zone.is_some() {
                        "; it takes precedence over leapsectz"
                    } else {
                        ""
                    }
                );
                if let Some(expired) = expired {
                    tracing::warn!("{expired}");
                }
                return Some(table);
            }
            Err(error) => tracing::warn!("{error}; {fallback}"),
        }
    }
    match from_zone? {
        (zone, Ok(table)) => {
            tracing::info!("leapsectz {zone}: {} leap seconds known", table.len());
            Some(table)
        }
        (_, Err(error)) => {
            tracing::warn!("{error}; using the sources' leap warnings");
            None
        }
    }
}

/// `leapsectz ZONE`: the leap seconds of ZONE (e.g. right/UTC), or why they cannot be
/// used (a missing zone, one without leap records, or one failing chronyd's check).
pub fn leap_table_of_zone(zone: &str) -> Result<LeapTable, String> {
    let path = Path::new(ZONEINFO_DIR).join(zone);
    let table = gnomon_sys::regular_file::read_capped(&path, LEAP_FILE_MAX_BYTES)
        .map_err(|error| error.to_string())
        .and_then(|bytes| LeapTable::from_tzif(&bytes).map_err(|error| error.to_string()))
        .map_err(|error| format!("leapsectz {zone} ({}): {error}", path.display()))?;
    if !table.knows_the_2012_leap_second() {
        return Err(format!(
            "leapsectz {zone} ({}): failed the leap second check (no leap second at the end \
             of 2012-06-30): an outdated or wrong zone; update tzdata",
            path.display()
        ));
    }
    Ok(table)
}

/// `leapseclist FILE`: the leap seconds of a leap-seconds.list, and a warning to log
/// when it has expired at `now`; or why it cannot be used (unreadable, malformed:
/// file and line, or failing chronyd's check), saying what to do.
pub fn leap_table_of_list(
    path: &Path,
    now: UnixTime,
) -> Result<(LeapTable, Option<String>), String> {
    const FIX: &str = "fix the file or point leapseclist at a current one \
                       (tzdata ships /usr/share/zoneinfo/leap-seconds.list)";
    let bytes =
        gnomon_sys::regular_file::read_capped(path, LEAP_FILE_MAX_BYTES).map_err(|error| {
            format!(
                "leapseclist {}: cannot read it ({error}): {FIX}",
                path.display()
            )
        })?;
    let table = LeapTable::from_leap_seconds_list(&bytes)
        .map_err(|error| format!("leapseclist {}: {error}: {FIX}", path.display()))?;
    if !table.knows_the_2012_leap_second() {
        return Err(format!(
            "leapseclist {}: failed the leap second check (no leap second at the end of \
             2012-06-30): not a complete leap-seconds.list: {FIX}",
            path.display()
        ));
    }
    let expired = table
        .expires()
        .filter(|&expires| expires <= now)
        .map(|expires| {
            let date = utc_date(expires);
            format!(
                "Leap second list {} needs update: it expired on {:04}-{:02}-{:02} (its #@ \
             line) and may lack a leap second announced since; still used, as chronyd \
             does. Install a current one (tzdata ships /usr/share/zoneinfo/leap-seconds.list)",
                path.display(),
                date.year,
                date.month,
                date.day
            )
        });
    Ok((table, expired))
}

/// The engine options for one `server`/`pool` line, with the global `estimator`.
pub fn source_options(source: &SourceConfig, estimator: EstimatorKind) -> SourceOptions {
    let defaults = SourceOptions::default();
    SourceOptions {
        minpoll: source.minpoll_log2_s,
        maxpoll: source.maxpoll_log2_s,
        iburst: source.iburst,
        burst: source.burst,
        offline: source.offline,
        prefer: source.prefer,
        noselect: source.noselect,
        trust: source.trust,
        require: source.require,
        maxdelay_s: source.maxdelay_s,
        maxdelayratio: source.maxdelayratio.unwrap_or(defaults.maxdelayratio),
        maxdelaydevratio: source.maxdelaydevratio,
        minstratum: source.minstratum,
        polltarget: source.polltarget,
        offset_s: source.offset_s,
        maxsamples: source
            .maxsamples
            .map_or(defaults.maxsamples, |n| n as usize),
        minsamples: source
            .minsamples
            .map_or(defaults.minsamples, |n| n as usize),
        estimator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_directives_reach_the_engine() {
        let parsed = Config::parse_str(
            "server 192.0.2.1\ncombinelimit 0\nmaxjitter 0.002\nreselectdist 0.01\n\
             stratumweight 0.05\nmaxupdateskew 20\ncorrtimeratio 10\nmaxdrift 50\n\
             maxclockerror 5\nclockprecision 1e-6\n",
            "test.conf",
        )
        .unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let engine = engine_config(&parsed.config, None, -23);
        let selection = engine.selection;
        assert_eq!(
            (
                selection.combinelimit,
                selection.maxjitter_s,
                selection.reselectdist_s,
                selection.stratumweight_s
            ),
            (0.0, 0.002, 0.01, 0.05)
        );
        let discipline = engine.discipline;
        assert_eq!(
            (
                discipline.maxupdateskew_ppm,
                discipline.corrtimeratio,
                discipline.max_frequency_ppm
            ),
            (20.0, 10.0, 50.0)
        );
        assert_eq!(engine.max_clock_error_ppm, 5.0);
        // 1 µs is 2^-19.93: announced as -20, not the measured -23.
        assert_eq!(engine.precision_log2, -20);
        // Unset, chrony's defaults and the measured precision.
        let defaults = engine_config(&Config::default(), None, -23);
        assert_eq!(defaults.selection, SelectionOptions::default());
        let chrony = DisciplineOptions::default();
        assert_eq!(
            (
                defaults.discipline.maxupdateskew_ppm,
                defaults.discipline.corrtimeratio,
                defaults.discipline.max_frequency_ppm
            ),
            (
                chrony.maxupdateskew_ppm,
                chrony.corrtimeratio,
                chrony.max_frequency_ppm
            )
        );
        assert_eq!(
            defaults.max_clock_error_ppm,
            EngineConfig::default().max_clock_error_ppm
        );
        assert_eq!(defaults.precision_log2, -23);
    }

    #[test]
    fn seed_line_maps_to_engine_options() {
        let parsed = Config::parse_str(
            "server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\nmakestep 1 3\nminsources 2\nlocal stratum 10 orphan\n",
            "test.conf",
        )
        .unwrap();
        let options = source_options(&parsed.config.sources[0], parsed.config.estimator);
        assert_eq!((options.minpoll, options.maxpoll), (4, 4));
        assert!(options.prefer && options.iburst && !options.noselect);
        assert!(options.clone().validated().is_ok());
        let engine = engine_config(&parsed.config, None, -23);
        assert_eq!(engine.selection.minsources, 2);
        assert_eq!(
            engine.discipline.makestep,
            Some(MakeStep {
                threshold_s: 1.0,
                limit: 3
            })
        );
        assert_eq!(
            engine.local_stratum.map(|l| (l.stratum, l.orphan)),
            Some((10, true))
        );
        assert_eq!(engine.precision_log2, -23);
        assert_eq!(engine.leap_table, None);
        let with_tz = Config::parse_str("leapsectz right/UTC\n", "tz.conf").unwrap();
        let table = engine_config(&with_tz.config, None, -20)
            .leap_table
            .expect("right/UTC read");
        assert!(table.len() >= 27);
        let missing = Config::parse_str("leapsectz right/Nowhere\n", "tz.conf").unwrap();
        assert_eq!(engine_config(&missing.config, None, -20).leap_table, None);
        // A zone without leap records.
        assert!(leap_table_of_zone("UTC")
            .unwrap_err()
            .contains("no leap-second records"));
    }

    /// A leap-seconds.list cut to what the tests need: the start of the list, the
    /// 2012 leap second (TAI-UTC 35, as in the published list) and two after it. It
    /// expires on 2026-06-28 (NTP 3991593600).
    const LIST: &str = "#\tshortened leap-seconds.list\n#$\t3960835200\n#@\t3991593600\n\
        2272060800\t10\t# 1 Jan 1972\n3550089600\t35\t# 1 Jul 2012\n\
        3644697600\t36\t# 1 Jul 2015\n3692217600\t37\t# 1 Jan 2017\n";

    /// 2026-01-01T00:00:00Z and 2026-12-01T00:00:00Z: before and after the expiry.
    const BEFORE_EXPIRY: UnixTime = UnixTime::from_secs(1_767_225_600);
    const AFTER_EXPIRY: UnixTime = UnixTime::from_secs(1_796_083_200);

    fn list_file(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("leap-seconds.list");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn config(text: &str) -> Config {
        Config::parse_str(text, "leap.conf").unwrap().config
    }

    #[test]
    fn leapseclist_is_read_and_an_expired_one_still_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_file(&dir, LIST);
        let (table, warning) = leap_table_of_list(&path, BEFORE_EXPIRY).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(warning, None);
        let (expired, warning) = leap_table_of_list(&path, AFTER_EXPIRY).unwrap();
        assert_eq!(expired, table, "chronyd keeps using an expired list");
        let warning = warning.expect("an expiry warning");
        assert!(
            warning.starts_with(&format!(
                "Leap second list {} needs update: it expired on 2026-06-28",
                path.display()
            )),
            "{warning}"
        );
        assert!(
            warning.contains("/usr/share/zoneinfo/leap-seconds.list"),
            "{warning}"
        );
        // The engine gets it through the directive.
        let line = format!("leapseclist {}\n", path.display());
        assert_eq!(leap_seconds(&config(&line), BEFORE_EXPIRY), Some(table));
    }

    #[test]
    fn leapseclist_comes_before_leapsectz_while_it_is_usable() {
        let dir = tempfile::tempdir().unwrap();
        let path = list_file(&dir, LIST);
        let zone = leap_table_of_zone("right/UTC").expect("tzdata's right/UTC");
        assert!(zone.len() >= 27);
        let both = format!("leapsectz right/UTC\nleapseclist {}\n", path.display());
        // Whatever the order of the lines: the list (3 leap seconds here), not the zone.
        let reversed = format!("leapseclist {}\nleapsectz right/UTC\n", path.display());
        for text in [&both, &reversed] {
            let table = leap_seconds(&config(text), BEFORE_EXPIRY).unwrap();
            assert_eq!(table.len(), 3, "{text}");
        }
        // An unusable list: the zone; and without a zone, none (the sources decide).
        std::fs::write(&path, LIST.replace("3550089600\t35", "3550089600 x")).unwrap();
        assert_eq!(
            leap_seconds(&config(&both), BEFORE_EXPIRY).as_ref(),
            Some(&zone)
        );
        let list_only = format!("leapseclist {}\n", path.display());
        assert_eq!(leap_seconds(&config(&list_only), BEFORE_EXPIRY), None);
        let missing = "leapseclist /nonexistent/leap-seconds.list\nleapsectz right/UTC\n";
        assert_eq!(leap_seconds(&config(missing), BEFORE_EXPIRY), Some(zone));
    }

    #[test]
    fn unusable_lists_say_file_line_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let fix = "fix the file or point leapseclist at a current one \
                   (tzdata ships /usr/share/zoneinfo/leap-seconds.list)";
        let missing =
            leap_table_of_list(Path::new("/nonexistent/l.list"), BEFORE_EXPIRY).unwrap_err();
        assert!(
            missing.starts_with("leapseclist /nonexistent/l.list: cannot read it (")
                && missing.ends_with(fix),
            "{missing}"
        );
        // A directory is not a regular file.
        let directory = leap_table_of_list(dir.path(), BEFORE_EXPIRY).unwrap_err();
        assert!(directory.contains("cannot read it"), "{directory}");
        let path = list_file(&dir, &LIST.replace("3644697600\t36", "3644697600 36 36"));
        let malformed = leap_table_of_list(&path, BEFORE_EXPIRY).unwrap_err();
        assert_eq!(
            malformed,
            format!(
                "leapseclist {}: line 6: expected `NTP_SECONDS TAI-UTC [# comment]` \
                 (e.g. `3692217600 37 # 1 Jan 2017`), found \"3644697600 36 36\\t# 1 Jul \
                 2015\": {fix}",
                path.display()
            )
        );
        let path = list_file(&dir, &LIST.replace("#@\t3991593600\n", ""));
        let no_expiry = leap_table_of_list(&path, BEFORE_EXPIRY).unwrap_err();
        assert!(
            no_expiry.contains("no `#@` line (expiry time)"),
            "{no_expiry}"
        );
        // Parses, but lacks 2012's leap second: chronyd's check refuses it.
        let path = list_file(&dir, &LIST.replace("3550089600\t35", "3550089600\t10"));
        let unchecked = leap_table_of_list(&path, BEFORE_EXPIRY).unwrap_err();
        assert!(
            unchecked.contains("failed the leap second check") && unchecked.ends_with(fix),
            "{unchecked}"
        );
    }

    #[test]
    fn the_systems_leap_seconds_list_is_usable() {
        // Debian 13's default chrony.conf names it; tzdata ships it. 2020-01-01, before
        // any expiry the package could carry.
        let (table, warning) = leap_table_of_list(
            Path::new("/usr/share/zoneinfo/leap-seconds.list"),
            UnixTime::from_secs(1_577_836_800),
        )
        .expect("tzdata's leap-seconds.list");
        assert_eq!(warning, None);
        let zone = leap_table_of_zone("right/UTC").unwrap();
        assert_eq!(table.leap_seconds(), zone.leap_seconds());
    }
}
