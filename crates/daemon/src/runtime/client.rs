//! The client side of the main loop: sources' addresses, sockets and replies.
//!
//! Owns resolving `server`/`pool` lines into engine sources with their sockets,
//! replacing unreachable pool members, and draining each source socket (replies with
//! kernel RX timestamps, TX timestamps from the error queue) into the engine. What to
//! send and when stays the engine's decision.

use super::serve;
use super::sources::{self, SourceSlot};
use super::{Daemon, MAX_REMEMBERED_REPLACED, RESOLVE_RETRY_NS, UNREACHABLE_REQUESTS};
use crate::engine_config::source_options;
use gnomon_config::SourceKind;
use gnomon_core::engine::ResponseError;
use gnomon_core::measurement::RejectReason;
use gnomon_core::source::SourceId;
use gnomon_proto::UnixTime;
use gnomon_sys::socket::TimestampSupport;
use gnomon_sys::timex::monotonic_now_ns;
use std::io;

impl Daemon {
    pub(super) fn resolve_pending(&mut self) {
        let pending = std::mem::take(&mut self.unresolved);
        for index in pending {
            let source = self.config.sources[index].clone();
            let addresses = match sources::resolve(
                &source,
                self.config.address_family,
                &self.options.resolve_overrides,
            ) {
                Ok(addresses) => addresses,
                Err(message) => {
                    tracing::warn!("{}: {message}; will retry", source.origin);
                    self.unresolved.push(index);
                    continue;
                }
            };
            self.add_addresses(index, &addresses);
        }
        self.next_resolve_ns = monotonic_now_ns() + RESOLVE_RETRY_NS;
    }

    /// Open a socket and add an engine source for each address of config line `index`.
    pub(super) fn add_addresses(&mut self, index: usize, addresses: &[std::net::SocketAddr]) {
        let source = self.config.sources[index].clone();
        let mut options = source_options(&source, self.config.estimator);
        if self.options.one_shot.is_some() {
            options.iburst = true;
        }
        options.offline = self.starts_offline(index);
        for &address in addresses {
            let (socket, support) = match sources::open_socket(address) {
                Ok(opened) => opened,
                Err(error) => {
                    tracing::warn!(
                        "{}: cannot open a socket to {address}: {error}",
                        source.origin
                    );
                    continue;
                }
            };
            if support != TimestampSupport::RxAndTx {
                tracing::info!(
                    "{address}: kernel timestamps: {support:?}; the rest is taken in user space"
                );
            }
            let now = self.clock.now();
            match self
                .engine
                .add_source(options.clone(), sources::reference_id_for(&address), now)
            {
                Ok(id) => {
                    tracing::info!("source {} ({address}) added", source.name);
                    // The sync-loop test, while we serve (as chronyd): the ID of the
                    // address the server sees us at, the connected socket's own.
                    let loop_id = socket
                        .local_addr()
                        .ok()
                        .filter(|_| self.serving.is_some())
                        .map(|local| gnomon_proto::ReferenceId::from_ip(local.ip()));
                    self.engine.set_loop_reference_id(id, loop_id);
                    self.sources.push(SourceSlot {
                        id,
                        name: source.name.clone(),
                        address,
                        from_pool: source.kind == SourceKind::Pool,
                        config_index: index,
                        socket,
                        sends: 0,
                        awaiting_tx_index: None,
                    });
                }
                Err(error) => tracing::error!("{}: {error}", source.origin),
            }
        }
        self.update_own_reference_id();
    }

    /// `local ... orphan` without an IPv4 `bindaddress`: learn the ID orphan peers
    /// know us by from the sources, once the first one has an address (a name may
    /// resolve only later, or a pool member be replaced). No DNS and no packet: the
    /// local address of a socket that is already connected.
    fn update_own_reference_id(&mut self) {
        if serve::own_reference_id(&self.config).is_some() {
            return;
        }
        let id = serve::own_reference_id_from_sources(&self.sources);
        if id.is_some() && id != self.engine.config().own_reference_id {
            if let Some(id) = id.filter(|_| self.config.local.is_some_and(|l| l.orphan)) {
                tracing::info!("orphan peers know this host as {}", id.to_hex());
            }
            self.engine.set_own_reference_id(id);
        }
    }

    /// chrony's pool behaviour: a pool member that never answered (reach 0 after
    /// [`UNREACHABLE_REQUESTS`] requests) or refused us (DENY/RSTR) is dropped, and the
    /// pool name is resolved again for an address not tried yet. An offline member is
    /// kept: its register is empty because it was told not to ask.
    pub(super) fn replace_unreachable_pool_members(&mut self) {
        let dead: Vec<(SourceId, usize, std::net::SocketAddr)> = self
            .sources
            .iter()
            .filter(|slot| slot.from_pool)
            .filter(|slot| {
                self.engine.source(slot.id).is_some_and(|source| {
                    source.stopped().is_some()
                        || (source.poll_state().reach() == 0
                            && !source.is_offline()
                            && source.counters().requests_sent >= UNREACHABLE_REQUESTS)
                })
            })
            .map(|slot| (slot.id, slot.config_index, slot.address))
            .collect();
        if dead.is_empty() {
            return;
        }
        let mut pools = Vec::new();
        let mut replaced = Vec::new();
        for (id, index, address) in dead {
            tracing::debug!("pool member {address} unreachable; replacing it");
            replaced.push((index, address));
            self.engine.remove_source(id);
            self.sources.retain(|slot| slot.id != id);
            if self.replaced_addresses.len() >= MAX_REMEMBERED_REPLACED {
                self.replaced_addresses.remove(0);
            }
            self.replaced_addresses.push(address);
            if !pools.contains(&index) {
                pools.push(index);
            }
        }
        for index in pools {
            let source = self.config.sources[index].clone();
            let Ok(found) = sources::resolve_all(
                &source,
                self.config.address_family,
                &self.options.resolve_overrides,
            ) else {
                continue;
            };
            let in_use = self
                .sources
                .iter()
                .filter(|slot| slot.config_index == index)
                .count();
            let wanted = usize::from(source.maxsources.max(1)).saturating_sub(in_use);
            let fresh: Vec<_> = found
                .into_iter()
                .filter(|address| !self.replaced_addresses.contains(address))
                .filter(|address| !self.sources.iter().any(|slot| slot.address == *address))
                .take(wanted)
                .collect();
            let added_before = self.sources.len();
            self.add_addresses(index, &fresh);
            let added: Vec<_> = self.sources[added_before..]
                .iter()
                .map(|slot| slot.address)
                .collect();
            let old = replaced.iter().filter(|(pool, _)| *pool == index);
            for ((_, old), new) in old.zip(&added) {
                tracing::info!(
                    "{}",
                    super::chrony_log::replaced_message(old, new, &source.name)
                );
            }
        }
    }

    pub(super) fn drain_tx_timestamps(&mut self, index: usize) {
        loop {
            let slot = &mut self.sources[index];
            match slot.socket.recv_tx_timestamp() {
                Ok(Some(stamp)) => {
                    if slot.awaiting_tx_index == Some(stamp.send_index) {
                        slot.awaiting_tx_index = None;
                        let sent_at = self.clock.clock_time_of_system(stamp.time);
                        let id = slot.id;
                        self.engine.on_transmit_timestamp(id, sent_at);
                    }
                }
                Ok(None) => continue,
                Err(_) => break,
            }
        }
    }

    pub(super) fn drain_replies(&mut self, index: usize, buffer: &mut [u8]) {
        loop {
            let received = match self.sources[index].socket.recv(buffer) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // ICMP errors (port unreachable) surface here; the reach register shows it.
                    tracing::debug!("{}: {error}", self.sources[index].address);
                    break;
                }
            };
            let now = self.clock.now();
            let received_at = match received.kernel_rx {
                Some(system_time) => self.clock.clock_time_of_system(system_time),
                None => now,
            };
            let id = self.sources[index].id;
            let was_looping = self.engine.source(id).is_some_and(|s| s.in_sync_loop());
            match self
                .engine
                .on_response(id, &buffer[..received.len], received_at, now)
            {
                Ok(outputs) => {
                    self.log_sample(id, now);
                    self.carry_out(outputs);
                }
                Err(ResponseError::Rejected(RejectReason::SyncLoop)) if !was_looping => {
                    // Once per episode: the state stays visible in `sources`.
                    tracing::warn!(
                        "{}: the server is synchronised to us (its reference ID is our \
                         address): not used while that lasts",
                        self.sources[index].address
                    )
                }
                Err(error) => {
                    tracing::debug!("{}: reply dropped: {error}", self.sources[index].address)
                }
            }
        }
    }

    /// measurements.log and statistics.log lines for the sample just accepted.
    pub(super) fn log_sample(&mut self, id: gnomon_core::source::SourceId, now: UnixTime) {
        let Some(source) = self.engine.source(id) else {
            return;
        };
        let Some(slot) = self.sources.iter().find(|slot| slot.id == id) else {
            return;
        };
        let address = slot.address.ip().to_string();
        if let Some(sample) = source.last_sample() {
            self.logs.measurement(&address, sample);
        }
        if let Some(estimate) = source.estimate() {
            self.logs
                .statistics(now, &address, estimate, source.estimator().sample_count());
        }
    }

    /// chronyc's `reload sources`: re-read the `sourcedir` files; sources whose line
    /// disappeared are removed, new lines are added. Returns (added, removed).
    pub(super) fn reload_sources(&mut self) -> (usize, usize) {
        let (fresh, warnings) =
            gnomon_config::load_source_dirs(&gnomon_config::StdFs, &self.config.source_dirs);
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let fresh_lines: Vec<String> = fresh.iter().map(gnomon_config::source_line).collect();
        let mut removed = 0;
        for index in 0..self.config.sources.len() {
            let source = &self.config.sources[index];
            if !source.from_sourcedir || self.retired_sources.contains(&index) {
                continue;
            }
            if fresh_lines.contains(&gnomon_config::source_line(source)) {
                continue;
            }
            self.retired_sources.push(index);
            self.unresolved.retain(|pending| *pending != index);
            let ids: Vec<SourceId> = self
                .sources
                .iter()
                .filter(|slot| slot.config_index == index)
                .map(|slot| slot.id)
                .collect();
            for id in ids {
                self.engine.remove_source(id);
            }
            self.sources.retain(|slot| slot.config_index != index);
            removed += 1;
        }
        let current: Vec<String> = (0..self.config.sources.len())
            .filter(|index| !self.retired_sources.contains(index))
            .map(|index| gnomon_config::source_line(&self.config.sources[index]))
            .collect();
        let mut added = 0;
        for (source, line) in fresh.into_iter().zip(fresh_lines) {
            if current.contains(&line) {
                continue;
            }
            self.config.sources.push(source);
            self.unresolved.push(self.config.sources.len() - 1);
            added += 1;
        }
        if added > 0 {
            self.resolve_pending();
        }
        (added, removed)
    }
}
