//! The engine's settings: chrony's global directives as the engine needs them.
//!
//! Owns [`EngineConfig`] and its defaults (chrony's). It must hold data only: what the
//! settings do lives with the parts that use them.

use gnomon_proto::ReferenceId;

use crate::discipline::{DisciplineOptions, SavedFrequency};
use crate::measurement::DEFAULT_MAX_CLOCK_ERROR_PPM;
use crate::selection::SelectionOptions;
use crate::system::LocalStratum;

/// Engine-wide settings (chrony's global directives).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    pub selection: SelectionOptions,
    pub discipline: DisciplineOptions,
    /// The frequency from the drift file, if any.
    pub saved_frequency: Option<SavedFrequency>,
    /// chrony's `local` directive.
    pub local_stratum: Option<LocalStratum>,
    /// chrony's `maxclockerror`, ppm (default 1).
    pub max_clock_error_ppm: f64,
    /// log2 seconds of the local clock's reading precision (the daemon measures it).
    pub precision_log2: i8,
    /// The reference ID other servers know this host by (its IPv4 address): with
    /// `local ... orphan`, an orphan source is followed only if its ID is smaller.
    pub own_reference_id: Option<ReferenceId>,
    /// chrony's `leapseclist` or `leapsectz`: leap seconds from a leap-seconds.list
    /// or a time zone file (the daemon picks one, the list first), overriding the
    /// sources' leap warnings.
    pub leap_table: Option<crate::leap_table::LeapTable>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            selection: SelectionOptions::default(),
            discipline: DisciplineOptions::default(),
            saved_frequency: None,
            local_stratum: None,
            max_clock_error_ppm: DEFAULT_MAX_CLOCK_ERROR_PPM,
            precision_log2: -20,
            own_reference_id: None,
            leap_table: None,
        }
    }
}
