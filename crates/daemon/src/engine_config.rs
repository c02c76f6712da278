//! From the parsed chrony.conf to the engine's settings.
//!
//! Owns the mapping of [`Config`] onto gnomon-core's [`EngineConfig`] and of each
//! `server`/`pool` line onto [`SourceOptions`]. It resolves no names; the one file it
//! reads is `leapsectz`'s time zone (the drift file's value comes in as an argument).

use gnomon_config::{Config, SourceConfig};
use gnomon_core::discipline::{DisciplineOptions, MakeStep, MaxChange, SavedFrequency};
use gnomon_core::engine::EngineConfig;
use gnomon_core::leap_table::LeapTable;
use gnomon_core::selection::SelectionOptions;
use gnomon_core::source_estimator::EstimatorKind;
use gnomon_core::source_options::SourceOptions;
use gnomon_core::system::LocalStratum;

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
            ..SelectionOptions::default()
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
            ..DisciplineOptions::default()
        },
        saved_frequency: saved,
        local_stratum: config.local.map(|local| LocalStratum {
            stratum: local.stratum,
            orphan: local.orphan,
            distance_s: local.distance_s,
            wait_unsynced_s: local.wait_unsynced_s,
        }),
        precision_log2,
        leap_table: config.leap_sec_tz.as_deref().and_then(leap_table),
        ..EngineConfig::default()
    }
}

/// Where time zones live (chrony reads the same database through the C library).
pub const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";

/// `leapsectz ZONE`: the leap seconds of ZONE (e.g. right/UTC). A zone that cannot be
/// read or has no leap records is logged, and the sources' leap warnings are used.
pub fn leap_table(zone: &str) -> Option<LeapTable> {
    let path = std::path::Path::new(ZONEINFO_DIR).join(zone);
    let parsed = gnomon_sys::regular_file::read_capped(&path, 1 << 20)
        .map_err(|error| error.to_string())
        .and_then(|bytes| LeapTable::from_tzif(&bytes).map_err(|error| error.to_string()));
    match parsed {
        Ok(table) => {
            tracing::info!("leapsectz {zone}: {} leap seconds known", table.len());
            Some(table)
        }
        Err(error) => {
            tracing::warn!(
                "leapsectz {zone} ({}): {error}; using the sources' leap warnings",
                path.display()
            );
            None
        }
    }
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
    }
}
