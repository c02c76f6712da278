//! Virtual network links: how long a packet takes between a client and a server, or
//! whether it arrives at all.
//!
//! Owns one path's delay model (fixed delay, random jitter of a chosen shape,
//! asymmetry between the directions, random loss, outage windows) and its random
//! stream. It must not look inside packets or know about clocks; it answers only "when
//! does a packet sent now arrive, if ever".

use crate::rng::SimRng;
use crate::scenario::{JitterKind, NetworkSpec};

/// Which way a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// One client–server path.
#[derive(Clone, Debug)]
pub struct Link {
    spec: NetworkSpec,
    start_true_ns: i64,
    rng: SimRng,
    sent: u64,
    lost: u64,
}

impl Link {
    pub fn new(spec: NetworkSpec, start_true_ns: i64, rng: SimRng) -> Link {
        Link {
            spec,
            start_true_ns,
            rng,
            sent: 0,
            lost: 0,
        }
    }

    /// The one-way delay of a packet sent at true time `sent_true_ns`, or `None` if lost.
    pub fn transit_s(&mut self, sent_true_ns: i64, direction: Direction) -> Option<f64> {
        self.sent += 1;
        // Draw the jitter and the loss every time, so that an outage does not shift
        // the random stream of the packets after it.
        let jitter_s = match self.spec.jitter {
            JitterKind::Exponential => self.rng.exponential(self.spec.jitter_s),
            JitterKind::Normal => (self.rng.normal() * self.spec.jitter_s).abs(),
            JitterKind::Uniform => self.rng.uniform() * 2.0 * self.spec.jitter_s,
        };
        let lost = self.rng.chance(self.spec.loss);
        let since_start_s = (sent_true_ns - self.start_true_ns) as f64 * 1e-9;
        let in_outage = self
            .spec
            .outages
            .iter()
            .any(|[from, to]| (*from..*to).contains(&since_start_s));
        if lost || in_outage {
            self.lost += 1;
            return None;
        }
        let asymmetry_s = match direction {
            Direction::ToServer => self.spec.asymmetry_s.max(0.0),
            Direction::ToClient => (-self.spec.asymmetry_s).max(0.0),
        };
        Some(self.spec.delay_s + asymmetry_s + jitter_s)
    }

    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    pub fn packets_lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(spec: NetworkSpec) -> Link {
        Link::new(spec, 0, SimRng::derive(3, "link"))
    }

    #[test]
    fn delay_jitter_and_asymmetry() {
        let mut l = link(NetworkSpec {
            delay_s: 1e-3,
            jitter_s: 1e-4,
            asymmetry_s: 2e-4,
            ..NetworkSpec::default()
        });
        let n = 20_000;
        let to_server: f64 = (0..n)
            .map(|_| l.transit_s(0, Direction::ToServer).unwrap())
            .sum::<f64>()
            / n as f64;
        let to_client: f64 = (0..n)
            .map(|_| l.transit_s(0, Direction::ToClient).unwrap())
            .sum::<f64>()
            / n as f64;
        assert!((to_server - 1.3e-3).abs() < 5e-6, "{to_server}");
        assert!((to_client - 1.1e-3).abs() < 5e-6, "{to_client}");
    }

    #[test]
    fn outages_and_loss_drop_packets() {
        let mut l = link(NetworkSpec {
            loss: 0.5,
            outages: vec![[10.0, 20.0]],
            ..NetworkSpec::default()
        });
        assert!(l.transit_s(15_000_000_000, Direction::ToServer).is_none());
        let delivered = (0..1000)
            .filter(|_| l.transit_s(0, Direction::ToServer).is_some())
            .count();
        assert!((400..600).contains(&delivered), "{delivered}");
        assert_eq!(l.packets_sent(), 1001);
    }
}
