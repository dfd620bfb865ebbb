//! Seeded weight initialisation (Kaiming-normal weights, N(0,1) inputs), shared by the lowering
//! of search spaces, scoring and the reference networks.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ir::Tensor;

/// 32-bit words of the ChaCha stream one accepted Box-Muller sample consumes (two `f64` draws).
const WORDS_PER_NORMAL: u128 = 4;

/// Samples per thread below which a tensor is drawn on one thread.
const PARALLEL_SAMPLES_PER_THREAD: usize = 1 << 16;

/// The Box-Muller transform of two uniform draws in `[0, 1)` (cosine branch); `None` when `u1`
/// is zero (its logarithm is not finite) and the draw must be repeated.
fn box_muller(u1: f64, u2: f64) -> Option<f64> {
    (u1 > f64::MIN_POSITIVE)
        .then(|| (-2.0f64 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos())
}

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
            if let Some(z) = box_muller(u1, u2) {
                return z;
            }
        }
    }

    /// A tensor of N(0, std²) samples.
    pub fn normal_tensor(&mut self, shape: &[usize], std: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor::f32(shape.to_vec(), self.normals(n, std))
    }

    /// `n` samples of N(0, std²), exactly those of `n` calls of [`Init::normal`] in order. Large
    /// tensors are drawn on several threads, each from its own position of the stream (one
    /// sample takes [`WORDS_PER_NORMAL`] words unless Box-Muller rejects a draw; then the whole
    /// tensor is drawn again in order, so the values never depend on the thread count).
    fn normals(&mut self, n: usize, std: f64) -> Vec<f32> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(n / PARALLEL_SAMPLES_PER_THREAD);
        self.normals_on(n, std, threads)
    }

    /// [`Init::normals`] on `threads` threads.
    fn normals_on(&mut self, n: usize, std: f64, threads: usize) -> Vec<f32> {
        if threads > 1 {
            let start = self.rng.get_word_pos();
            let mut out = vec![0f32; n];
            let chunk = n.div_ceil(threads);
            let clean = std::thread::scope(|s| {
                let workers: Vec<_> = out
                    .chunks_mut(chunk)
                    .enumerate()
                    .map(|(k, part)| {
                        let mut rng = self.rng.clone();
                        rng.set_word_pos(start + WORDS_PER_NORMAL * (k * chunk) as u128);
                        s.spawn(move || {
                            for v in part.iter_mut() {
                                let u1: f64 = rng.random();
                                let u2: f64 = rng.random();
                                let Some(z) = box_muller(u1, u2) else { return false };
                                *v = (z * std) as f32;
                            }
                            true
                        })
                    })
                    .collect();
                workers.into_iter().all(|w| w.join().unwrap_or(false))
            });
            if clean {
                self.rng.set_word_pos(start + WORDS_PER_NORMAL * n as u128);
                return out;
            }
            self.rng.set_word_pos(start);
        }
        (0..n).map(|_| (self.normal() * std) as f32).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_drawn_on_several_threads_are_the_sequential_draws() {
        // Chunk boundaries fall inside ChaCha blocks, after draws of another kind.
        let n = 3 * 1000 + 7;
        for threads in [2, 3, 5] {
            let mut parallel = Init::new(11);
            let mut sequential = Init::new(11);
            let _ = parallel.labels(3, 10);
            let _ = sequential.labels(3, 10);
            let drawn = parallel.normals_on(n, 0.25, threads);
            let expected: Vec<f32> = (0..n).map(|_| (sequential.normal() * 0.25) as f32).collect();
            assert_eq!(drawn, expected, "{threads} threads");
            // The stream goes on from the same place.
            assert_eq!(parallel.normal().to_bits(), sequential.normal().to_bits());
            assert_eq!(parallel.labels(5, 1000), sequential.labels(5, 1000));
        }
    }

    #[test]
    fn a_large_tensor_is_the_sequential_draws() {
        let n = 2 * PARALLEL_SAMPLES_PER_THREAD + 3;
        let t = Init::new(5).normal_tensor(&[n], 1.0);
        let mut sequential = Init::new(5);
        let expected: Vec<f32> = (0..n).map(|_| sequential.normal() as f32).collect();
        assert_eq!(t.to_f32(), expected);
    }
}
