//! Seeded random numbers for the simulator.
//!
//! Owns the one pseudo-random generator type every simulated part uses and the
//! distributions they draw from (uniform, normal, exponential). Each part (a clock,
//! a network link) gets its own stream derived from the scenario seed and a stable
//! label, so adding a node or reordering events does not change what another part
//! draws. It must not read any entropy from the system: the same seed always gives
//! the same numbers.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream for `label` (e.g. "clock/client-3") under `seed`.
    pub fn derive(seed: u64, label: &str) -> SimRng {
        // FNV-1a over the label, mixed with the seed: stable across runs and platforms.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in label.bytes() {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&hash.to_le_bytes());
        SimRng {
            inner: ChaCha8Rng::from_seed(key),
        }
    }

    /// 32 bytes for seeding an engine's own generator.
    pub fn seed_bytes(&mut self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        self.inner.fill_bytes(&mut bytes);
        bytes
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-half_width, +half_width).
    pub fn symmetric(&mut self, half_width: f64) -> f64 {
        (2.0 * self.uniform() - 1.0) * half_width
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_give_the_same_stream() {
        let mut a = SimRng::derive(7, "clock/a");
        let mut b = SimRng::derive(7, "clock/a");
        let mut c = SimRng::derive(7, "clock/b");
        let xa: Vec<f64> = (0..4).map(|_| a.uniform()).collect();
        let xb: Vec<f64> = (0..4).map(|_| b.uniform()).collect();
        let xc: Vec<f64> = (0..4).map(|_| c.uniform()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut rng = SimRng::derive(1, "moments");
        let n = 200_000;
        let exp_mean: f64 = (0..n).map(|_| rng.exponential(2.0)).sum::<f64>() / n as f64;
        assert!((exp_mean - 2.0).abs() < 0.03, "{exp_mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }
}
