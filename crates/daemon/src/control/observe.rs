//! Observability in the main loop: the metrics endpoint and the clockbound file.
//!
//! Owns opening both from the config (a failure is logged, the daemon runs on without
//! it), their poll entries, and gathering one scrape from the same views the control
//! socket serves. The main loop calls it; it must not change engine state.

use super::clockbound::ClockBoundPublisher;
use super::metrics::{openmetrics_to_classic, render_openmetrics, MetricsInput};
use super::metrics_server::{Format, MetricsServer};
use super::serving_views;
use super::views::{self, SourceLabel};
use crate::runtime::serve::Serving;
use gnomon_config::Config;
use gnomon_control::protocol::ServerStatsReport;
use gnomon_core::engine::Engine;
use gnomon_proto::UnixTime;
use gnomon_sys::fd::Readiness;
use std::os::fd::RawFd;

/// The metrics server and clockbound publisher, each when configured.
#[derive(Default)]
pub struct Observability {
    pub metrics: Option<MetricsServer>,
    clock_bound: Option<ClockBoundPublisher>,
}

/// The state one scrape reads.
pub struct ScrapeSource<'a> {
    pub engine: &'a Engine,
    pub labels: &'a [SourceLabel],
    pub now: UnixTime,
    pub clock: &'a str,
    pub serving: Option<&'a Serving>,
    pub command_requests: u64,
    pub command_dropped: u64,
}

impl Observability {
    pub fn open(config: &Config) -> Observability {
        let metrics = config.metrics_address.and_then(|address| {
            MetricsServer::bind(address)
                .inspect(|server| {
                    tracing::info!("metrics on http://{}/metrics", server.local_addr())
                })
                .inspect_err(|error| tracing::warn!("metrics {address} not available: {error}"))
                .ok()
        });
        let clock_bound = config.clock_bound.as_ref().and_then(|bound| {
            ClockBoundPublisher::open(bound)
                .inspect_err(|error| {
                    tracing::warn!("clockbound {} not available: {error}", bound.path.display())
                })
                .ok()
        });
        Observability {
            metrics,
            clock_bound,
        }
    }

    /// Whether either is configured (the loop skips gathering labels otherwise).
    pub fn is_active(&self) -> bool {
        self.metrics.is_some() || self.clock_bound.is_some()
    }

    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        self.metrics
            .as_ref()
            .map_or_else(Vec::new, MetricsServer::poll_entries)
    }

    pub fn max_wait(&self) -> Option<std::time::Duration> {
        self.metrics.as_ref().and_then(MetricsServer::max_wait)
    }

    /// Serve the metrics connections that `ready` (from [`Self::poll_entries`]) says are
    /// ready, then publish the bound.
    pub fn handle_ready(&mut self, ready: &[Readiness], source: &ScrapeSource, monotonic_ns: i64) {
        if let Some(metrics) = &mut self.metrics {
            metrics.handle_ready(ready, monotonic_ns, &mut |format| scrape(source, format));
        }
        if let Some(publisher) = &mut self.clock_bound {
            publisher.publish(source.engine, source.now, monotonic_ns);
        }
    }
}

/// One scrape's text in `format`.
pub fn scrape(source: &ScrapeSource, format: Format) -> String {
    let tracking = views::tracking(source.engine, source.labels, source.now, source.clock);
    let sources = views::sources(source.engine, source.labels, source.now);
    let source_stats = views::sourcestats(source.engine, source.labels);
    let delays: Vec<Option<f64>> = source
        .engine
        .sources()
        .map(|s| s.last_sample().map(|sample| sample.delay_s))
        .collect();
    let server: ServerStatsReport = serving_views::serverstats(
        source.serving,
        source.command_requests,
        source.command_dropped,
    );
    let text = render_openmetrics(&MetricsInput {
        tracking: &tracking,
        sources: &sources,
        source_stats: &source_stats,
        source_delays_s: &delays,
        server: &server,
    });
    match format {
        Format::OpenMetrics => text,
        Format::Classic => openmetrics_to_classic(&text),
    }
}
