//! What each control-socket request does to the running daemon.
//!
//! Owns the dispatch from a decoded [`Request`] to the engine, the sources and the
//! serving state, and the [`Response`] it answers with: the views are built by
//! crate::control, the state changes (burst, online/offline, reload, makestep, the
//! clients reset) are carried out here on the main thread. It must not check
//! permissions (the control server does, with SCM_CREDENTIALS, before a request gets
//! here), page replies (the server does) or do IO of its own.

use super::Daemon;
use crate::control::server::ControlHandler;
use crate::control::{serving_views, views};
use gnomon_control::protocol::{Done, Request, Response, ResponseData, NO_CLIENT_LOG};
use gnomon_control::status::Status;
use gnomon_core::clock_action::ClockAction;
use gnomon_core::engine::EngineOutput;
use gnomon_sys::timex::monotonic_now_ns;

impl ControlHandler for Daemon {
    fn reset_clients(&mut self) {
        if let Some(serving) = self.serving.as_mut() {
            let _report = serving.report_and_reset_clients();
        }
    }

    fn answer(&mut self, request: &Request) -> Response {
        let now = self.clock.now();
        self.control_requests += 1;
        match request {
            Request::Clients { .. }
                if self
                    .serving
                    .as_ref()
                    .is_some_and(|serving| !serving.has_client_log()) =>
            {
                Response::error(Status::NotEnabled, NO_CLIENT_LOG)
            }
            Request::Clients { min_packets, reset } => {
                Response::ok(ResponseData::Clients(serving_views::clients(
                    self.serving.as_mut(),
                    monotonic_now_ns(),
                    *min_packets,
                    *reset,
                )))
            }
            Request::Serverstats => {
                Response::ok(ResponseData::Serverstats(serving_views::serverstats(
                    self.serving.as_ref(),
                    self.control_requests,
                    self.control_dropped,
                )))
            }
            Request::Tracking => Response::ok(ResponseData::Tracking(views::tracking(
                &self.engine,
                &self.labels(),
                now,
                self.clock.describe(),
            ))),
            Request::Sources => Response::ok(ResponseData::Sources(views::sources(
                &self.engine,
                &self.labels(),
                now,
            ))),
            Request::Sourcestats => Response::ok(ResponseData::Sourcestats(views::sourcestats(
                &self.engine,
                &self.labels(),
            ))),
            Request::Activity => Response::ok(ResponseData::Activity(views::activity(
                &self.engine,
                self.unresolved.len(),
            ))),
            Request::Burst => {
                let ids: Vec<_> = self.sources.iter().map(|slot| slot.id).collect();
                let started = ids
                    .into_iter()
                    .filter(|id| self.engine.burst(*id, now))
                    .count();
                Response::ok(ResponseData::Done(Done {
                    done: format!("burst started on {started} sources"),
                }))
            }
            Request::Offline { address } => self.set_connectivity(false, address.as_deref()),
            Request::Online { address } => self.set_connectivity(true, address.as_deref()),
            Request::Reloadsources => {
                let (added, removed) = self.reload_sources();
                Response::ok(ResponseData::Done(Done {
                    done: format!("sources reloaded: {added} added, {removed} removed"),
                }))
            }
            Request::Makestep => {
                let outputs = self.engine.make_step(now);
                let step_s = outputs.iter().find_map(|output| match output {
                    EngineOutput::Clock(ClockAction::Step { offset_s }) => Some(*offset_s),
                    _ => None,
                });
                self.carry_out(outputs);
                Response::ok(ResponseData::Done(Done {
                    done: match step_s {
                        Some(offset_s) => format!("clock stepped by {offset_s:+.9} seconds"),
                        None => "no correction pending".into(),
                    },
                }))
            }
        }
    }
}
