//! Response rate limiting: chrony's `ratelimit interval I burst B leak L [kod K]`.
//!
//! Owns the token bucket per client (kept in its `ClientRecord`): each reply costs
//! 2^I seconds of credit, credit accrues with time up to B replies' worth, and a new
//! client starts full. When the bucket is short the request is limited; it is still
//! answered at random once per 2^L limited requests on average (the "leak", so an
//! attacker spoofing a victim's address cannot cut it off completely, and a leaked
//! answer empties the bucket). Of the rest, with `kod K` > 0, one in 2^K is answered
//! with a RATE kiss-o'-death and the others are dropped. As chrony does, a client
//! whose request interval after drops is less than half its usual one (it polls
//! faster when not answered) has the sense of the leak inverted, so rate limiting
//! does not increase the traffic.
//!
//! It must not read a clock (elapsed time is an input), touch the table's layout, or
//! allocate. Credit is kept in nanoseconds, so intervals down to chrony's minimum
//! (-19, 2 µs) are exact rather than coarse.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client_table::ClientRecord;

/// chrony's limits for the options.
pub const MIN_INTERVAL_LOG2_S: i8 = -19;
pub const MAX_INTERVAL_LOG2_S: i8 = 12;
pub const MAX_LEAK_LOG2: u8 = 4;
pub const MAX_KOD_LOG2: u8 = 4;

/// The directive's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitParams {
    pub interval_log2_s: i8,
    pub burst: u8,
    pub leak_log2: u8,
    /// 0: never send a RATE KoD.
    pub kod_log2: u8,
}

impl Default for RateLimitParams {
    fn default() -> Self {
        RateLimitParams {
            interval_log2_s: 3,
            burst: 8,
            leak_log2: 2,
            kod_log2: 0,
        }
    }
}

impl RateLimitParams {
    /// Credit one reply costs, ns.
    pub fn cost_ns(&self) -> u64 {
        let exponent = self
            .interval_log2_s
            .clamp(MIN_INTERVAL_LOG2_S, MAX_INTERVAL_LOG2_S);
        if exponent >= 0 {
            1_000_000_000u64 << exponent
        } else {
            1_000_000_000u64 >> (-exponent)
        }
    }

    /// A full bucket, ns.
    pub fn full_ns(&self) -> u64 {
        self.cost_ns() * u64::from(self.burst.max(1))
    }
}

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Pass,
    Kod,
    Drop,
}

/// The limiter: parameters and the random bits for leak and KoD.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    params: RateLimitParams,
    rng: ChaCha8Rng,
}

impl RateLimiter {
    pub fn new(params: RateLimitParams, seed: [u8; 32]) -> RateLimiter {
        RateLimiter {
            params,
            rng: ChaCha8Rng::from_seed(seed),
        }
    }

    pub fn params(&self) -> RateLimitParams {
        self.params
    }

    /// True once in 2^`log2` calls on average.
    fn one_in(&mut self, log2: u8) -> bool {
        self.rng.next_u32() & ((1u32 << log2.min(31)) - 1) == 0
    }

    /// Decide for a request whose record was just logged, `elapsed_ns` after the
    /// client's previous request (`None`: a new client, its bucket is full).
    pub fn check(&mut self, record: &mut ClientRecord, elapsed_ns: Option<i64>) -> Limit {
        let full_ns = self.params.full_ns();
        if let Some(elapsed_ns) = elapsed_ns {
            let credit = u64::try_from(elapsed_ns).unwrap_or(0);
            record.tokens_ns = record.tokens_ns.saturating_add(credit).min(full_ns);
        }
        let was_dropped = record.last_dropped;
        record.last_dropped = false;
        let cost_ns = self.params.cost_ns();
        if record.tokens_ns >= cost_ns {
            record.tokens_ns -= cost_ns;
            return Limit::Pass;
        }
        let leak = self.one_in(self.params.leak_log2.clamp(1, MAX_LEAK_LOG2));
        let speeds_up_when_dropped = was_dropped
            && matches!(
                (record.limited_interval_log2_s, record.interval_log2_s),
                (Some(limited), Some(usual)) if limited < usual - 1.0
            );
        if leak != speeds_up_when_dropped {
            record.tokens_ns = 0;
            return Limit::Pass;
        }
        let kod_log2 = self.params.kod_log2.min(MAX_KOD_LOG2);
        if kod_log2 > 0 && self.one_in(kod_log2) {
            record.kods_sent += 1;
            return Limit::Kod;
        }
        record.last_dropped = true;
        record.rate_limit_drops += 1;
        Limit::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_table::ClientTable;
    use std::net::IpAddr;

    fn run(params: RateLimitParams, requests: u32, spacing_ns: i64) -> (u32, u32, u32) {
        let mut limiter = RateLimiter::new(params, [5; 32]);
        let mut table = ClientTable::new(16, 1);
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let (mut pass, mut kod, mut drop) = (0, 0, 0);
        for n in 0..requests {
            let (record, elapsed) =
                table.log_request(client, i64::from(n) * spacing_ns, params.full_ns());
            match limiter.check(record, elapsed) {
                Limit::Pass => pass += 1,
                Limit::Kod => kod += 1,
                Limit::Drop => drop += 1,
            }
        }
        (pass, kod, drop)
    }

    #[test]
    fn params() {
        let params = RateLimitParams::default();
        assert_eq!(params.cost_ns(), 8_000_000_000);
        assert_eq!(params.full_ns(), 64_000_000_000);
        let fast = RateLimitParams {
            interval_log2_s: -19,
            ..params
        };
        assert_eq!(fast.cost_ns(), 1_907);
    }

    #[test]
    fn a_polite_client_is_never_limited() {
        let params = RateLimitParams::default();
        assert_eq!(run(params, 200, 8_000_000_000), (200, 0, 0));
        assert_eq!(run(params, 200, 16_000_000_000), (200, 0, 0));
    }

    #[test]
    fn a_burst_gets_its_burst_then_about_the_leak_rate() {
        let params = RateLimitParams {
            interval_log2_s: 1,
            burst: 16,
            ..RateLimitParams::default()
        };
        // 4000 requests 1 ms apart: 16 from the bucket, ~2 from 4 s of credit, and
        // about a quarter of the rest leak through.
        let (pass, kod, drop) = run(params, 4_000, 1_000_000);
        assert_eq!(kod, 0);
        assert_eq!(pass + drop, 4_000);
        let leaked = f64::from(pass - 18) / 3_982.0;
        assert!((leaked - 0.25).abs() < 0.03, "{pass} passed");
    }

    #[test]
    fn kod_rate_sends_rate_kisses() {
        let params = RateLimitParams {
            interval_log2_s: 3,
            burst: 1,
            leak_log2: 4,
            kod_log2: 1,
        };
        let (pass, kod, drop) = run(params, 4_000, 1_000_000);
        assert!(pass < 400, "{pass}");
        let kod_share = f64::from(kod) / f64::from(kod + drop);
        assert!((kod_share - 0.5).abs() < 0.05, "{kod} {drop}");
    }

    #[test]
    fn a_client_that_speeds_up_when_dropped_gets_answers() {
        // Usual interval 1 s; after a drop it retries every 1 ms: the leak inverts.
        let params = RateLimitParams {
            interval_log2_s: 3,
            burst: 1,
            ..RateLimitParams::default()
        };
        let mut limiter = RateLimiter::new(params, [9; 32]);
        let mut table = ClientTable::new(16, 1);
        let client: IpAddr = "10.0.0.2".parse().unwrap();
        let mut now_ns = 0i64;
        let mut answered_fast = 0;
        let mut fast = 0;
        for _ in 0..2_000 {
            let retry = table.get(client).is_some_and(|r| r.last_dropped);
            now_ns += if retry { 1_000_000 } else { 1_000_000_000 };
            let (record, elapsed) = table.log_request(client, now_ns, params.full_ns());
            let limit = limiter.check(record, elapsed);
            if retry {
                fast += 1;
                answered_fast += u32::from(limit == Limit::Pass);
            }
        }
        assert!(fast > 100);
        assert!(
            f64::from(answered_fast) / f64::from(fast) > 0.5,
            "{answered_fast}/{fast}"
        );
    }
}
