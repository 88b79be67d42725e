//! [`Embedding`]: a lookup table of learned vectors.

use rand::Rng;
use wengert_autodiff::{Float, Tensor, Var};

use crate::{init, join_name, Bound, Module, Param, Parameters};

/// A table of `num_embeddings` vectors of width `embedding_dim`, as PyTorch's
/// `nn.Embedding(num_embeddings, embedding_dim, padding_idx)`: `y[.., :] = weight[idx[..], :]`.
///
/// Indices of shape `[..]` give an output `[.., embedding_dim]`. The lookup is the tape's
/// `index_select`, whose gradient scatters into the selected rows (and is differentiable again).
/// With a `padding_idx`, that row gets no gradient (PyTorch's rule): its lookups are recorded as
/// constants, so it stays as it is while training (zeros after initialisation).
///
/// Parameter (PyTorch's name): `weight` `[num_embeddings, embedding_dim]`, initialised `N(0, 1)`
/// as PyTorch, with the `padding_idx` row set to zero.
///
/// As a [`Module`], the input holds the indices as floats (exact integers); [`Embedding::lookup`]
/// takes them as `usize`.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::Tape;
/// use wengert_nn::layers::Embedding;
/// use wengert_nn::Bound;
///
/// let emb = Embedding::<f64>::new(10, 3, Some(0), &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let y = emb.lookup(&Bound::new(&tape, &emb), &[4, 0, 4, 9], &[2, 2]);
/// assert_eq!(y.shape().as_slice(), &[2, 2, 3]);
/// assert_eq!(y.value().to_vec()[3..6], [0.0; 3]); // the padding row
/// ```
#[derive(Clone, Debug)]
pub struct Embedding<T: Float> {
    /// `weight`, `[num_embeddings, embedding_dim]`.
    pub weight: Param<T>,
    padding_idx: Option<usize>,
}

impl<T: Float> Embedding<T> {
    /// A table initialised `N(0, 1)` with the `padding_idx` row (if any) zeroed, as PyTorch.
    ///
    /// # Panics
    /// If `padding_idx >= num_embeddings`.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<usize>,
        rng: &mut R,
    ) -> Self {
        let mut w = init::normal::<T, R>(&[num_embeddings, embedding_dim], 0.0, 1.0, rng);
        if let Some(p) = padding_idx {
            assert!(p < num_embeddings, "Embedding: padding_idx {p} out of range for {num_embeddings} embeddings");
            w.data_mut()[p * embedding_dim..(p + 1) * embedding_dim].fill(T::ZERO);
        }
        Embedding { weight: Param::new(w), padding_idx }
    }

    /// A table with the given weight `[num_embeddings, embedding_dim]` (kept as is, padding row too).
    ///
    /// # Panics
    /// If `weight` is not a matrix or `padding_idx` is out of range.
    #[track_caller]
    pub fn from_tensor(weight: Tensor<T>, padding_idx: Option<usize>) -> Self {
        assert!(weight.ndim() == 2, "Embedding: weight must be [num_embeddings, dim], got {:?}", weight.shape());
        if let Some(p) = padding_idx {
            assert!(
                p < weight.shape()[0],
                "Embedding: padding_idx {p} out of range for {} embeddings",
                weight.shape()[0]
            );
        }
        Embedding { weight: Param::new(weight), padding_idx }
    }

    /// Number of vectors in the table.
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Width of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The padding index, if any.
    pub fn padding_idx(&self) -> Option<usize> {
        self.padding_idx
    }

    /// `weight[idx]` for indices `idx` (row-major, of shape `shape`): output `[*shape, embedding_dim]`.
    ///
    /// # Panics
    /// If an index is out of range or `idx.len()` is not the product of `shape`.
    #[track_caller]
    pub fn lookup<'t>(&self, p: &Bound<'t, T>, idx: &[usize], shape: &[usize]) -> Var<'t, T> {
        let n = self.num_embeddings();
        assert!(idx.len() == shape.iter().product::<usize>(), "Embedding: {} indices for shape {shape:?}", idx.len());
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            panic!("Embedding: index {bad} out of range for {n} embeddings");
        }
        let w = p.var(&self.weight);
        let rows = w.index_select(0, idx);
        let rows = match self.padding_idx {
            Some(pad) if idx.contains(&pad) => {
                let keep: Vec<T> = idx.iter().map(|&i| if i == pad { T::ZERO } else { T::ONE }).collect();
                let keep = Tensor::from_vec(keep, &[idx.len(), 1]);
                rows.where_(&keep, w.constant_like(rows.value()))
            }
            _ => rows,
        };
        let mut out = shape.to_vec();
        out.push(self.embedding_dim());
        rows.reshape(&out)
    }
}

impl<T: Float> Parameters<T> for Embedding<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        f(&join_name(prefix, "weight"), &self.weight);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        f(&join_name(prefix, "weight"), &mut self.weight);
    }
}

impl<T: Float> Module<T> for Embedding<T> {
    /// [`Embedding::lookup`] of the indices held (as exact integers) in `x`.
    ///
    /// # Panics
    /// If an entry of `x` is not a non-negative integer below `num_embeddings`.
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let v = x.value();
        let idx: Vec<usize> = v
            .as_slice()
            .iter()
            .map(|i| {
                let f = i.to_f64();
                assert!(f >= 0.0 && f.fract() == 0.0, "Embedding: index {f} is not a non-negative integer");
                f as usize
            })
            .collect();
        self.lookup(p, &idx, v.shape())
    }
}
