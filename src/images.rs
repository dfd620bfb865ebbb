//! Labelled images for the proxies that need real data: an `.npz` file with `x` (uint8 images
//! `(N, H, W, C)`, or float `(N, C, H, W)` already normalised) and `y` (integer labels `(N)`).
//! Uint8 images are scaled to [0, 1] and normalised per channel by the file's own mean and
//! standard deviation (within a fraction of a percent of the usual dataset constants on a few
//! hundred images).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::ir::{DType, Tensor};

/// Labelled images in `(N, C, H, W)` float layout.
#[derive(Debug, Clone)]
pub struct Images {
    /// The file read.
    pub path: PathBuf,
    /// Images `(N, C, H, W)`, normalised.
    pixels: Vec<f32>,
    /// `(C, H, W)`.
    pub image_shape: [usize; 3],
    /// Labels.
    pub labels: Vec<i64>,
}

impl Images {
    /// Reads an `.npz` file (arrays `x` and `y`).
    pub fn open(path: &Path) -> Result<Images> {
        let bad = |m: String| Error::Data(format!("{}: {m}", path.display()));
        let file = std::fs::File::open(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let mut zip =
            zip::ZipArchive::new(file).map_err(|e| bad(format!("not an .npz archive ({e})")))?;
        let mut array = |name: &str| -> Result<Tensor> {
            let mut entry = zip
                .by_name(&format!("{name}.npy"))
                .map_err(|_| bad(format!("no array '{name}' (images x and labels y)")))?;
            // The archive says how long the array is; a lying one stops at the file limit.
            let bytes = crate::limits::read_bounded(&mut entry, || {
                format!("{}: array '{name}' unpacks to more than the limit", path.display())
            })?
            .map_err(|e| bad(format!("array '{name}': {e}")))?;
            crate::npy::from_bytes(&bytes).map_err(|e| bad(format!("array '{name}': {e}")))
        };
        let x = array("x")?;
        let y = array("y")?;
        if x.shape.len() != 4 {
            return Err(bad(format!(
                "x has shape {:?}; images are (N, H, W, C) or (N, C, H, W)",
                x.shape
            )));
        }
        let n = x.shape[0];
        let labels = y.to_i64();
        if y.dtype().is_float() || labels.len() != n {
            return Err(bad(format!(
                "y must hold {n} integer labels, it is {}{:?}",
                y.dtype(),
                y.shape
            )));
        }
        let (pixels, image_shape) = if x.dtype() == DType::U8 {
            let [h, w, c] = [x.shape[1], x.shape[2], x.shape[3]];
            let raw = x.to_f64();
            let mut out = vec![0f32; raw.len()];
            for ch in 0..c {
                let values: Vec<f64> = raw.iter().skip(ch).step_by(c).map(|v| v / 255.0).collect();
                let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
                let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / values.len().max(1) as f64;
                let std = var.sqrt().max(1e-8);
                for (i, v) in values.iter().enumerate() {
                    let (img, pos) = (i / (h * w), i % (h * w));
                    out[img * c * h * w + ch * h * w + pos] = ((v - mean) / std) as f32;
                }
            }
            (out, [c, h, w])
        } else if x.dtype().is_float() {
            (x.to_f32(), [x.shape[1], x.shape[2], x.shape[3]])
        } else {
            return Err(bad(format!("x is {}; images are uint8 or float", x.dtype())));
        };
        Ok(Images { path: path.to_path_buf(), pixels, image_shape, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A batch of `n` images of shape `shape` `(n, C, H, W)` and their labels, drawn without
    /// replacement in a seeded order. Errors name the file when the images are too few or of
    /// another shape (they are not resized).
    pub fn batch(&self, shape: &[usize], seed: u64) -> Result<(Tensor, Tensor)> {
        self.batch_at(shape, seed, 0)
    }

    /// The `index`-th of consecutive disjoint batches of one seeded order (index 0 is
    /// [`Images::batch`]): several batches of a pass share no image.
    pub fn batch_at(&self, shape: &[usize], seed: u64, index: usize) -> Result<(Tensor, Tensor)> {
        let n = shape.first().copied().unwrap_or(0);
        let (first, end) = (n * index, n * (index + 1));
        if shape.len() != 4 || shape[1..] != self.image_shape {
            return Err(Error::Data(format!(
                "{}: images are {:?} (C, H, W), the model's input is {:?}",
                self.path.display(),
                self.image_shape,
                shape
            )));
        }
        if end > self.len() {
            return Err(Error::Data(format!(
                "{}: {} batches of {n} need {end} images, the file has {}",
                self.path.display(),
                index + 1,
                self.len()
            )));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let size: usize = self.image_shape.iter().product();
        let mut x = Vec::with_capacity(n * size);
        let mut y = Vec::with_capacity(n);
        for &i in &order[first..end] {
            x.extend_from_slice(&self.pixels[i * size..(i + 1) * size]);
            y.push(self.labels[i]);
        }
        Ok((Tensor::f32(shape.to_vec(), x), Tensor::i64_vec(y)))
    }
}
