//! Seeded weight initialisation (Kaiming-normal weights, N(0,1) inputs), shared by the lowering
//! of search spaces, scoring and the reference networks.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ir::Tensor;

/// A deterministic random source (ChaCha8, stable across platforms and crate versions).
pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Init {
        Init { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// One standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u1: f64 = self.rng.random();
            let u2: f64 = self.rng.random();
            if u1 > f64::MIN_POSITIVE {
                return (-2.0f64 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            }
        }
    }

    /// A tensor of N(0, std²) samples.
    pub fn normal_tensor(&mut self, shape: &[usize], std: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor::f32(shape.to_vec(), (0..n).map(|_| (self.normal() * std) as f32).collect())
    }

    /// A tensor of U(-bound, bound) samples.
    pub fn uniform_tensor(&mut self, shape: &[usize], bound: f64) -> Tensor {
        let n = shape.iter().product();
        let values = (0..n).map(|_| ((self.rng.random::<f64>() * 2.0 - 1.0) * bound) as f32);
        Tensor::f32(shape.to_vec(), values.collect())
    }

    /// Kaiming-normal (fan_in, ReLU gain √2) weights for a Conv `(Co, Ci/g, k...)` or Gemm
    /// `(out, in)` weight.
    pub fn kaiming(&mut self, shape: &[usize]) -> Tensor {
        let fan_in: usize = shape[1..].iter().product();
        self.normal_tensor(shape, (2.0 / fan_in.max(1) as f64).sqrt())
    }

    /// Uniform integers in `0..n`, as i64 (labels).
    pub fn labels(&mut self, count: usize, n: usize) -> Vec<i64> {
        (0..count).map(|_| self.rng.random_range(0..n as i64)).collect()
    }
}
