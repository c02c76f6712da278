//! chronyd's operational log messages, worded as chronyd 4.3 words them, at the same
//! moments: "Selected source X", "Can't synchronise: no selectable sources" / "no
//! majority", "System clock was stepped by N seconds", "System clock status set to
//! insert leap second", "Source X online/offline", "Source X replaced with Y (NAME)",
//! "No suitable source for synchronisation". People and scripts that grep chronyd's
//! journal find the same lines in gnomond's.
//!
//! Owns the wording only; the moments come from the engine's outputs
//! ([`gnomon_core::EngineOutput::SelectionChanged`], clock actions) and the runtime's
//! pool replacement and connectivity commands.

use super::sources::SourceSlot;
use super::Daemon;
use gnomon_core::selection::SelectionFailure;
use gnomon_core::{ClockAction, LeapSecond, SourceId};
use std::net::SocketAddr;

/// A source as chronyd names it: its address, and the configured name in parentheses
/// when that differs (a pool or a host name).
pub(super) fn source_name(name: &str, address: &SocketAddr) -> String {
    let ip = address.ip().to_string();
    if name == ip {
        ip
    } else {
        format!("{ip} ({name})")
    }
}

/// "Selected source X" or "Can't synchronise: REASON".
pub(super) fn selection_message(
    selected: Option<&SourceSlot>,
    failure: Option<SelectionFailure>,
) -> Option<String> {
    match (selected, failure) {
        (Some(slot), _) => Some(format!(
            "Selected source {}",
            source_name(&slot.name, &slot.address)
        )),
        (None, Some(failure)) => Some(format!("Can't synchronise: {}", failure.message())),
        (None, None) => None,
    }
}

/// The message chronyd logs once it has applied `action`, if any.
pub(super) fn clock_message(action: &ClockAction) -> Option<String> {
    match action {
        ClockAction::Step { offset_s } => {
            Some(format!("System clock was stepped by {offset_s:.6} seconds"))
        }
        ClockAction::SetLeap(LeapSecond::Insert) => {
            Some("System clock status set to insert leap second".into())
        }
        ClockAction::SetLeap(LeapSecond::Delete) => {
            Some("System clock status set to delete leap second".into())
        }
        _ => None,
    }
}

/// Log what chronyd logs after applying `action`.
pub(super) fn clock_applied(action: &ClockAction) {
    if let Some(message) = clock_message(action) {
        tracing::warn!("{message}");
    }
}

/// "Source OLD replaced with NEW (NAME)".
pub(super) fn replaced_message(old: &SocketAddr, new: &SocketAddr, name: &str) -> String {
    format!("Source {} replaced with {} ({name})", old.ip(), new.ip())
}

/// "Source X online" / "Source X offline".
pub(super) fn connectivity_message(slot: &SourceSlot, online: bool) -> String {
    format!(
        "Source {} {}",
        source_name(&slot.name, &slot.address),
        if online { "online" } else { "offline" }
    )
}

/// `-q`/`-Q` ended without a measurement.
pub(super) const NO_SUITABLE_SOURCE: &str = "No suitable source for synchronisation";

impl Daemon {
    /// Log a selection change as chronyd does.
    pub(super) fn log_selection(
        &self,
        reference: Option<SourceId>,
        failure: Option<SelectionFailure>,
    ) {
        let selected = reference.and_then(|id| self.sources.iter().find(|slot| slot.id == id));
        match selection_message(selected, failure) {
            Some(message) if selected.is_some() => tracing::info!("{message}"),
            Some(message) => tracing::warn!("{message}"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chronyd_wordings() {
        let address: SocketAddr = "192.0.2.1:123".parse().unwrap();
        assert_eq!(source_name("192.0.2.1", &address), "192.0.2.1");
        assert_eq!(
            source_name("pool.example", &address),
            "192.0.2.1 (pool.example)"
        );
        assert_eq!(
            clock_message(&ClockAction::Step { offset_s: 0.3 }).unwrap(),
            "System clock was stepped by 0.300000 seconds"
        );
        assert_eq!(
            selection_message(None, Some(SelectionFailure::NoMajority)).unwrap(),
            "Can't synchronise: no majority"
        );
        assert_eq!(
            replaced_message(&address, &"192.0.2.7:123".parse().unwrap(), "pool.example"),
            "Source 192.0.2.1 replaced with 192.0.2.7 (pool.example)"
        );
    }
}
