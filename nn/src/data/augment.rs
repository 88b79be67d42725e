//! Data augmentation: random transformations of training batches ([`Transform`], [`RandomShift`]).

use rand::{Rng, RngCore};
use wengert_autodiff::{Float, Tensor};

/// A random transformation of a batch of features, applied to training batches only (a training
/// loop draws a fresh transformation for every batch from a generator it seeds, so a run stays
/// reproducible). `Send + Sync`, like the models it feeds.
pub trait Transform<T: Float>: Send + Sync {
    /// The transformed copy of `x` (`[N, ..]`, one row per sample), drawing from `rng`.
    fn apply(&self, x: &Tensor<T>, rng: &mut dyn RngCore) -> Tensor<T>;
}

/// Random translations of images by whole pixels: each sample is shifted by `(dy, dx)`, each drawn
/// uniformly from `-max_shift..=max_shift`, and the pixels shifted in are zeros (the background of
/// the bundled digits). A classic augmentation for digits (LeCun et al. 1998 trained on distorted
/// copies; +-1 pixel is enough on 8x8 images).
///
/// Each row of the features (`[N, H W]`, `[N, C H W]` or `[N, C, H, W]`) is read as `C` images of
/// `height x width`; all channels of a sample move together.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::Tensor;
/// use wengert_nn::data::{RandomShift, Transform};
///
/// let x = Tensor::<f32>::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 9]); // one 3x3 image
/// let shift = RandomShift::new(3, 3, 1);
/// let y = shift.apply(&x, &mut StdRng::seed_from_u64(0));
/// // the same pixels, moved by at most one row and one column, zeros shifted in
/// assert_eq!(y.shape(), &[1, 9]);
/// assert!(y.as_slice().iter().all(|v| *v == 0.0 || x.as_slice().contains(v)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomShift {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Largest shift, in pixels, along each axis.
    pub max_shift: usize,
}

impl RandomShift {
    /// Shifts of up to `max_shift` pixels of `height x width` images.
    pub fn new(height: usize, width: usize, max_shift: usize) -> Self {
        RandomShift { height, width, max_shift }
    }
}

impl<T: Float> Transform<T> for RandomShift {
    /// # Panics
    /// If a row of `x` is not a whole number of `height x width` images.
    #[track_caller]
    fn apply(&self, x: &Tensor<T>, rng: &mut dyn RngCore) -> Tensor<T> {
        let (h, w) = (self.height, self.width);
        let n = x.shape().first().copied().unwrap_or(0);
        let row = x.numel().checked_div(n).unwrap_or(0);
        assert!(
            h * w > 0 && row % (h * w) == 0,
            "RandomShift: rows of {row} features for {h}x{w} images (features of shape {:?})",
            x.shape()
        );
        let m = self.max_shift as isize;
        let src = x.as_slice();
        let mut out = vec![T::ZERO; src.len()];
        for (s, d) in src.chunks(row.max(1)).zip(out.chunks_mut(row.max(1))) {
            let dy = rng.random_range(0..=2 * m as i64) as isize - m;
            let dx = rng.random_range(0..=2 * m as i64) as isize - m;
            for (si, di) in s.chunks(h * w).zip(d.chunks_mut(h * w)) {
                for y in 0..h as isize {
                    let sy = y - dy;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    for xx in 0..w as isize {
                        let sx = xx - dx;
                        if sx >= 0 && sx < w as isize {
                            di[(y * w as isize + xx) as usize] = si[(sy * w as isize + sx) as usize];
                        }
                    }
                }
            }
        }
        Tensor::from_vec(out, x.shape())
    }
}
