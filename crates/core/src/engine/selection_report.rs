//! When the engine reports a selection change ([`EngineOutput::SelectionChanged`]):
//! at the moments chronyd logs "Selected source X" and "Can't synchronise: ...", so a
//! driver can log them without reading engine state back.

use super::{Engine, EngineOutput};
use crate::selection::SelectionFailure;
use crate::source::SourceId;

/// The selection state as last reported in [`EngineOutput::SelectionChanged`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SelectionReport {
    Nothing,
    Selected(SourceId),
    Failed(SelectionFailure),
}

impl Engine {
    /// Emit [`EngineOutput::SelectionChanged`] when what chronyd would log changes.
    pub(super) fn report_selection(
        &mut self,
        reference: Option<SourceId>,
        failure: Option<SelectionFailure>,
        outputs: &mut Vec<EngineOutput>,
    ) {
        let report = match (reference, failure) {
            (Some(id), _) => SelectionReport::Selected(id),
            (None, Some(failure)) => SelectionReport::Failed(failure),
            (None, None) => return,
        };
        let changed = match (self.selection_report, report) {
            (previous, now) if previous == now => false,
            (_, SelectionReport::Selected(_)) => true,
            // Losing a reference is logged; never having one only for "no majority".
            (SelectionReport::Selected(_), SelectionReport::Failed(_)) => true,
            (_, SelectionReport::Failed(failure)) => failure == SelectionFailure::NoMajority,
            (_, SelectionReport::Nothing) => false,
        };
        if changed {
            outputs.push(EngineOutput::SelectionChanged { reference, failure });
        }
        // Stay "selected" until the loss is reported, so it is reported once.
        if changed || matches!(report, SelectionReport::Selected(_)) {
            self.selection_report = report;
        }
    }
}
