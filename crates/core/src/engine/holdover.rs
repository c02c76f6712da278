//! The engine without a reference: chrony's "Can't synchronise" (holdover, the
//! frequency kept while the root dispersion grows), the `local` reference taking
//! over, and what the kernel is told about synchronisation. Part of [`Engine`]; it
//! must not select sources or discipline the clock.

use gnomon_proto::{LeapIndicator, UnixTime};

use super::{Engine, EngineOutput};
use crate::clock_action::{ClockAction, LeapSecond};
use crate::system::{SystemVariables, LOCAL_REFERENCE_ID, UNSYNCHRONIZED_STRATUM};

impl Engine {
    /// Selection found nothing to follow (no majority, too few sources): chrony's
    /// "Can't synchronise". Forget the reference, stop claiming synchronisation (the
    /// `local` reference takes over if configured) and tell the clock. Holdover: the
    /// frequency is kept, and the root dispersion of the last update keeps growing.
    pub(super) fn lose_reference(&mut self, now: UnixTime, outputs: &mut Vec<EngineOutput>) {
        self.reference = None;
        if !self.system.synchronized || self.system.local_reference {
            self.use_local_reference_if_configured(now);
            return;
        }
        self.system = SystemVariables {
            synchronized: false,
            leap: LeapIndicator::Unsynchronized,
            stratum: UNSYNCHRONIZED_STRATUM,
            ..self.system
        };
        if self.armed_leap != LeapSecond::None {
            self.armed_leap = LeapSecond::None;
            outputs.push(EngineOutput::Clock(ClockAction::SetLeap(LeapSecond::None)));
        }
        self.use_local_reference_if_configured(now);
        outputs.push(EngineOutput::Clock(self.synchronized_action(now)));
    }

    pub(super) fn use_local_reference_if_configured(&mut self, now: UnixTime) {
        let Some(local) = self.config.local_stratum else {
            return;
        };
        if self.system.synchronized && !self.system.local_reference {
            return;
        }
        self.system = SystemVariables {
            synchronized: true,
            local_reference: true,
            leap: LeapIndicator::NoWarning,
            stratum: local.stratum.clamp(1, 15),
            reference_id: LOCAL_REFERENCE_ID,
            reference_time: Some(now),
            root_delay_s: 0.0,
            root_dispersion_s: 0.0,
            pending_correction_s: 0.0,
            dispersion_rate_ppm: 0.0,
            frequency_ppm: self.discipline.base_frequency_ppm(),
            skew_ppm: self.discipline.state().skew_ppm,
            ..self.system
        };
    }

    pub(super) fn synchronized_action(&self, now: UnixTime) -> ClockAction {
        let bound = self.clock_error_bound(now);
        ClockAction::SetSynchronized {
            synchronized: bound.synchronized,
            max_error_s: if bound.synchronized {
                bound.bound_s + bound.offset_s.abs()
            } else {
                16.0
            },
            est_error_s: if bound.synchronized {
                self.system.estimated_error_s
            } else {
                16.0
            },
        }
    }
}
