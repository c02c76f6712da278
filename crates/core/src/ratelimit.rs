//! Response rate limiting: chrony's `ratelimit interval I burst B leak L [kod K]`.
//!
//! Owns the token bucket per client (kept in its `ClientRecord`) and the decision for
//! one request, with chrony's semantics so that a flood gets the share chronyd gives
//! it: tokens accrue with the client log's 1/16 s ticks, a reply costs 2^I seconds'
//! worth, the bucket holds B replies and a new client starts full. When the bucket is
//! short the request is limited; it is still answered at random once per 2^L limited
//! requests (the "leak", so an attacker spoofing a victim's address cannot cut it off
//! completely), and a leaked answer empties the bucket. Of the rest, with `kod K` > 0,
//! one in 2^K is answered with a RATE kiss-o'-death and the others are dropped. As
//! chrony does, a client whose request rate after drops is more than twice its rate
//! after replies (it polls faster when not answered; the two estimates are the client
//! log's) has the sense of the leak inverted, so rate limiting does not increase the
//! traffic. For intervals below one tick (I < -4) a tick is worth several replies, as
//! chrony's coarse limiting.
//!
//! It must not read a clock (elapsed ticks are an input), touch the table's layout, or
//! allocate.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client_table::{ClientRecord, RATE_STEPS_PER_OCTAVE, TICKS_PER_SECOND_LOG2};

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
    /// log2 of the ticks one reply is worth (negative: a tick pays for several).
    fn ticks_per_reply_log2(&self) -> i32 {
        i32::from(
            self.interval_log2_s
                .clamp(MIN_INTERVAL_LOG2_S, MAX_INTERVAL_LOG2_S),
        ) + TICKS_PER_SECOND_LOG2
    }

    /// Tokens one reply costs.
    pub fn tokens_per_reply(&self) -> u32 {
        1 << self.ticks_per_reply_log2().max(0)
    }

    /// Tokens one tick of the client log's clock adds.
    pub fn tokens_per_tick(&self) -> u32 {
        1 << (-self.ticks_per_reply_log2()).max(0)
    }

    /// A full bucket: `burst` replies, and at least one tick's worth.
    pub fn full_tokens(&self) -> u32 {
        (self.tokens_per_reply() * u32::from(self.burst.max(1))).max(self.tokens_per_tick())
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

    /// Decide for a request whose record was just logged, `elapsed_ticks` after the
    /// client's previous request (`None`: a new client, its bucket is full, or the
    /// clock went back: no credit).
    pub fn check(&mut self, record: &mut ClientRecord, elapsed_ticks: Option<u64>) -> Limit {
        let full = self.params.full_tokens();
        if let Some(ticks) = elapsed_ticks {
            let credit = ticks.saturating_mul(u64::from(self.params.tokens_per_tick()));
            let filled = u64::from(record.tokens).saturating_add(credit);
            record.tokens = filled.min(u64::from(full)) as u32;
        }
        record.last_dropped = false;
        let cost = self.params.tokens_per_reply();
        if record.tokens >= cost {
            record.tokens -= cost;
            return Limit::Pass;
        }
        let leak = self.one_in(self.params.leak_log2.clamp(1, MAX_LEAK_LOG2));
        // The rate estimates are the log's: after drops more than one octave faster
        // than after replies (an unknown rate after replies counts as the slowest).
        let speeds_up_when_dropped = record.limited_rate.is_some_and(|limited| {
            i32::from(limited)
                > record.rate.map_or(i32::from(i8::MIN), i32::from) + RATE_STEPS_PER_OCTAVE
        });
        if leak != speeds_up_when_dropped {
            record.tokens = 0;
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
                table.log_request(client, i64::from(n) * spacing_ns, params.full_tokens());
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
        // Tokens are 1/16 s ticks: 8 s is 128 of them, 8 replies 1024.
        assert_eq!(params.tokens_per_reply(), 128);
        assert_eq!(params.tokens_per_tick(), 1);
        assert_eq!(params.full_tokens(), 1024);
        // Below one tick per reply a tick pays for several (chrony's coarse limiting):
        // 2^-19 s is 2^15 replies per tick, and the bucket holds at least one tick.
        let fast = RateLimitParams {
            interval_log2_s: -19,
            ..params
        };
        assert_eq!(fast.tokens_per_reply(), 1);
        assert_eq!(fast.tokens_per_tick(), 1 << 15);
        assert_eq!(fast.full_tokens(), 1 << 15);
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
            let (record, elapsed) = table.log_request(client, now_ns, params.full_tokens());
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

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod schedule_tests;
