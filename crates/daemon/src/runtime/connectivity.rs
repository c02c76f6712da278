//! chronyc's `online` and `offline` in the daemon.
//!
//! Owns applying a [`SourceMatch`] to the running sources (the engine switches each
//! one; see gnomon-core's `engine::connectivity`), remembering what a whole
//! `server`/`pool` line was switched to so that its sources resolved later (and a
//! pool's replacement members) start that way, and the answer: chronyc's "200 OK",
//! or "no such source" when nothing matched.

use super::Daemon;
use gnomon_control::protocol::{Done, Response, ResponseData, NO_SUCH_SOURCE};
use gnomon_control::source_match::SourceMatch;
use gnomon_control::status::Status;

impl Daemon {
    /// `online` (true) or `offline` for the sources `argument` names (all without it).
    pub(super) fn set_connectivity(&mut self, online: bool, argument: Option<&str>) -> Response {
        let selection = match SourceMatch::parse(argument) {
            Ok(selection) => selection,
            Err(message) => return Response::error(Status::BadAddress, message),
        };
        let word = if online { "online" } else { "offline" };
        let now = self.clock.now();
        let mut matched = 0;
        let mut changed = 0;
        for slot in &self.sources {
            if !selection.matches(&slot.name, slot.address.ip()) {
                continue;
            }
            matched += 1;
            let switched = if online {
                self.engine.set_online(slot.id, now)
            } else {
                self.engine.set_offline(slot.id)
            };
            if switched == Some(true) {
                changed += 1;
                tracing::info!("{}", super::chrony_log::connectivity_message(slot, online));
            }
        }
        for index in 0..self.config.sources.len() {
            if self.retired_sources.contains(&index)
                || !selection.matches_line(&self.config.sources[index].name)
            {
                continue;
            }
            self.line_connectivity.retain(|(line, _)| *line != index);
            self.line_connectivity.push((index, online));
            if self.unresolved.contains(&index) {
                matched += 1;
            }
        }
        if matched == 0 && selection != SourceMatch::All {
            return Response::error(Status::NoSuchSource, NO_SUCH_SOURCE);
        }
        Response::ok(ResponseData::Done(Done {
            done: format!("{changed} of {matched} sources set {word}"),
        }))
    }

    /// Whether the sources of configuration line `index` start offline: as the last
    /// `online`/`offline` that named the whole line said, else its `offline` option.
    /// One-shot runs (`-q`, `-Q`) always poll.
    pub(super) fn starts_offline(&self, index: usize) -> bool {
        if self.options.one_shot.is_some() {
            return false;
        }
        match self
            .line_connectivity
            .iter()
            .find(|(line, _)| *line == index)
        {
            Some((_, online)) => !online,
            None => self.config.sources[index].offline,
        }
    }
}
