//! [`DataLoader`]: minibatch iteration over a [`Dataset`], with seeded, reproducible shuffling.

use std::marker::PhantomData;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use wengert_autodiff::Float;

use super::dataset::{Batch, Dataset};

/// Minibatch iteration settings. Defaults follow PyTorch's `DataLoader`: no shuffling, last
/// partial batch kept (`drop_last = false`); the batch size has no default.
///
/// With [`DataLoader::shuffle`], epoch `e` visits the rows in a permutation drawn from a
/// generator seeded with `mix(seed, e)`: the same `(seed, e)` always gives the same order
/// (for the `rand` version pinned in `Cargo.lock`), and every epoch gets a fresh order
/// without any state carried between epochs, so training can resume at any epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataLoader {
    batch_size: usize,
    seed: Option<u64>,
    drop_last: bool,
}

impl DataLoader {
    /// Batches of `batch_size` rows, in dataset order.
    ///
    /// # Panics
    /// If `batch_size == 0`.
    #[track_caller]
    pub fn new(batch_size: usize) -> Self {
        assert!(batch_size > 0, "DataLoader::new: batch_size must be positive");
        DataLoader { batch_size, seed: None, drop_last: false }
    }

    /// Shuffles rows every epoch, reproducibly from `seed` and the epoch number.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Drops the last batch of an epoch if it has fewer than `batch_size` rows.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of batches in an epoch over `n` rows: `ceil(n / b)`, or `floor(n / b)` with drop-last.
    pub fn num_batches(&self, n: usize) -> usize {
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits `n` rows (before batching and dropping).
    pub fn order(&self, n: usize, epoch: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        if let Some(seed) = self.seed {
            let mut rng = StdRng::seed_from_u64(mix(seed, epoch));
            idx.shuffle(&mut rng);
        }
        idx
    }

    /// The index sets of every batch of epoch `epoch` over `n` rows.
    pub fn batch_indices(&self, n: usize, epoch: u64) -> Vec<Vec<usize>> {
        let order = self.order(n, epoch);
        order.chunks(self.batch_size).take(self.num_batches(n)).map(|c| c.to_vec()).collect()
    }

    /// Iterates over the batches of epoch `epoch` (a full pass over `dataset`).
    pub fn epoch<'d, T: Float, D: Dataset<T> + ?Sized>(&self, dataset: &'d D, epoch: u64) -> Epoch<'d, T, D> {
        let n = dataset.len();
        Epoch {
            dataset,
            order: self.order(n, epoch),
            batch_size: self.batch_size,
            pos: 0,
            batches_left: self.num_batches(n),
            _t: PhantomData,
        }
    }
}

/// SplitMix64 finaliser over `seed` and `epoch`, so nearby seeds and epochs give unrelated streams.
fn mix(seed: u64, epoch: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The batches of one epoch, from [`DataLoader::epoch`].
pub struct Epoch<'d, T: Float, D: Dataset<T> + ?Sized> {
    dataset: &'d D,
    order: Vec<usize>,
    batch_size: usize,
    pos: usize,
    batches_left: usize,
    _t: PhantomData<T>,
}

impl<T: Float, D: Dataset<T> + ?Sized> Iterator for Epoch<'_, T, D> {
    type Item = Batch<T>;

    fn next(&mut self) -> Option<Batch<T>> {
        if self.batches_left == 0 {
            return None;
        }
        self.batches_left -= 1;
        let end = (self.pos + self.batch_size).min(self.order.len());
        let b = self.dataset.batch(&self.order[self.pos..end]);
        self.pos = end;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.batches_left, Some(self.batches_left))
    }
}

impl<T: Float, D: Dataset<T> + ?Sized> ExactSizeIterator for Epoch<'_, T, D> {}
