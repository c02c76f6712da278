//! chronyc's `offline`, `online` and `burst` on the engine's sources.
//!
//! Owns switching one source between polled and quiet on command, and a burst on
//! demand. What quiet means for a source's requests and its reachability register is
//! [`crate::poll::PollState`]'s business (chronyd 4.3's behaviour: no requests, the
//! register cleared once, then frozen); selection, as for any source with an empty
//! register, does not select it. The reference is kept in holdover if it goes
//! offline, as when it stops answering: going offline is no reason to claim being
//! unsynchronised (chronyc's "let the whole network coast through").

use gnomon_proto::UnixTime;

use super::Engine;
use crate::source::SourceId;

impl Engine {
    /// chronyc `offline` for one source. `None` if there is no such source, else
    /// whether it changed (it may have been offline already).
    pub fn set_offline(&mut self, id: SourceId) -> Option<bool> {
        self.sources
            .iter_mut()
            .find(|s| s.id() == id)
            .map(|source| source.set_offline())
    }

    /// chronyc `online` for one source at `now`: polling resumes (with `iburst`, with a
    /// burst). `None` if there is no such source, else whether it changed.
    pub fn set_online(&mut self, id: SourceId, now: UnixTime) -> Option<bool> {
        self.sources
            .iter_mut()
            .find(|s| s.id() == id)
            .map(|source| source.set_online(now))
    }

    /// Start a burst on a source at `now` (chronyc `burst`); an offline source sends it
    /// at once and returns to offline after it. False if there is no such source.
    pub fn burst(&mut self, id: SourceId, now: UnixTime) -> bool {
        match self.sources.iter_mut().find(|s| s.id() == id) {
            Some(source) => {
                source.poll_state_mut().request_burst(now);
                true
            }
            None => false,
        }
    }
}
