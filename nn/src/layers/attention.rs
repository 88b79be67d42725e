//! [`MultiHeadAttention`]: scaled dot-product attention over several heads.

use rand::Rng;
use wengert_autodiff::{Float, Tensor, Var};

use super::Linear;
use crate::{init, join_name, Bound, Module, Param, Parameters};

/// Which key positions a query may attend to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionMask {
    /// Query `i` attends only to keys `j <= i` (PyTorch's `is_causal=True`; with `L != S` the mask
    /// is the lower-left triangle of `[L, S]`, as `torch.ones(L, S).tril()`).
    pub causal: bool,
    /// `[N * S]` row-major, `true` where key `j` of sample `n` is padding and must be ignored
    /// (PyTorch's boolean `key_padding_mask`).
    pub key_padding: Option<Vec<bool>>,
}

/// Multi-head attention (Vaswani et al. 2017), as PyTorch's
/// `nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)` without dropout:
///
/// `Q = query W_q^T + b_q`, `K = key W_k^T + b_k`, `V = value W_v^T + b_v`, split into `H` heads of
/// width `D = E / H`; per head `A = softmax(Q K^T / sqrt(D) + M)`, `O = A V`; the heads are
/// concatenated and projected, `y = O W_o^T + b_o`. `M` is `0` where attention is allowed and
/// `-1e9` where an [`AttentionMask`] forbids it (a masked weight is exactly zero; a row with every
/// key masked gets uniform weights where PyTorch gives `NaN`).
///
/// Inputs `[N, L, E]` (queries) and `[N, S, E]` (keys, values); output `[N, L, E]`. Every step is
/// a tape op, so the layer is differentiable to any order, masks included.
///
/// Parameters, in PyTorch's layout: `in_proj_weight` `[3E, E]` (`W_q; W_k; W_v` stacked),
/// `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]`, `out_proj.bias` `[E]`. Initialisation as
/// PyTorch: `in_proj_weight` Xavier-uniform, `out_proj.weight` as `nn.Linear`
/// (`U(-1/sqrt(E), 1/sqrt(E))`), both biases zero.
///
/// As a [`Module`], it is self-attention (`query = key = value = x`) with the mask of
/// [`MultiHeadAttention::causal`].
#[derive(Clone, Debug)]
pub struct MultiHeadAttention<T: Float> {
    /// `in_proj_weight`, `[3E, E]`.
    pub in_proj_weight: Param<T>,
    /// `in_proj_bias`, `[3E]`.
    pub in_proj_bias: Param<T>,
    /// `out_proj`: `weight` `[E, E]`, `bias` `[E]`.
    pub out_proj: Linear<T>,
    num_heads: usize,
    /// Whether self-attention through [`Module::forward`] is causal.
    pub causal: bool,
}

impl<T: Float> MultiHeadAttention<T> {
    /// `num_heads` heads over width `embed_dim`, initialised as PyTorch (see the type's docs).
    ///
    /// # Panics
    /// If `num_heads` is zero or does not divide `embed_dim`.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(embed_dim: usize, num_heads: usize, rng: &mut R) -> Self {
        assert!(
            num_heads > 0 && embed_dim.is_multiple_of(num_heads),
            "MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
        );
        let mut out_proj = Linear::new(embed_dim, embed_dim, rng);
        out_proj.bias = Some(Param::new(Tensor::zeros(&[embed_dim])));
        MultiHeadAttention {
            in_proj_weight: Param::new(init::xavier_uniform(&[3 * embed_dim, embed_dim], 1.0, rng)),
            in_proj_bias: Param::new(Tensor::zeros(&[3 * embed_dim])),
            out_proj,
            num_heads,
            causal: false,
        }
    }

    /// Width `E`.
    pub fn embed_dim(&self) -> usize {
        self.in_proj_weight.shape()[1]
    }

    /// Number of heads `H`.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// `x W^T + b` with rows `k E .. (k + 1) E` of the input projection, split into heads:
    /// `[N, T, E] -> [N, H, T, D]`.
    fn project<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>, k: usize) -> Var<'t, T> {
        let e = self.embed_dim();
        let rows = k * e..(k + 1) * e;
        let w = p.var(&self.in_proj_weight).slice(0, rows.clone());
        let b = p.var(&self.in_proj_bias).slice(0, rows);
        let s = x.shape();
        let y = x.matmul_t(w, false, true) + b;
        y.reshape(&[s[0], s[1], self.num_heads, e / self.num_heads]).permute(&[0, 2, 1, 3])
    }

    /// The attention output `[N, L, E]` and the attention weights `[N, H, L, S]` (softmax rows).
    ///
    /// # Panics
    /// If the inputs are not `[N, L, E]`, `[N, S, E]`, `[N, S, E]`, or the padding mask is not `N * S` long.
    #[track_caller]
    pub fn attend<'t>(
        &self,
        p: &Bound<'t, T>,
        query: Var<'t, T>,
        key: Var<'t, T>,
        value: Var<'t, T>,
        mask: &AttentionMask,
    ) -> (Var<'t, T>, Var<'t, T>) {
        let (qs, ks, vs) = (query.shape(), key.shape(), value.shape());
        let e = self.embed_dim();
        assert!(
            qs.len() == 3 && ks.len() == 3 && qs[2] == e && ks == vs && ks[0] == qs[0] && ks[2] == e,
            "MultiHeadAttention: query {:?}, key {:?}, value {:?} for embed_dim {e} (expected [N, L, {e}], [N, S, {e}], [N, S, {e}])",
            qs.as_slice(),
            ks.as_slice(),
            vs.as_slice()
        );
        let (n, l, s) = (qs[0], qs[1], ks[1]);
        let d = e / self.num_heads;
        let q = self.project(p, query, 0);
        let k = self.project(p, key, 1);
        let v = self.project(p, value, 2);
        let mut scores = q.matmul_t(k, false, true) * T::from_f64(1.0 / (d as f64).sqrt());
        if mask.causal || mask.key_padding.is_some() {
            let keep = mask_tensor::<T>(mask, n, l, s);
            scores = scores.where_(&keep, scores.constant_like(Tensor::scalar(T::from_f64(-1e9))));
        }
        let weights = scores.softmax(-1);
        let o = weights.matmul(v).permute(&[0, 2, 1, 3]).reshape(&[n, l, e]);
        (self.out_proj.forward(p, o), weights)
    }
}

/// `[N, 1, L, S]`: one where query `i` of sample `n` may attend to key `j`, zero elsewhere.
#[track_caller]
fn mask_tensor<T: Float>(mask: &AttentionMask, n: usize, l: usize, s: usize) -> Tensor<T> {
    if let Some(pad) = &mask.key_padding {
        assert!(
            pad.len() == n * s,
            "MultiHeadAttention: key_padding mask of length {} for {n} samples of {s} keys",
            pad.len()
        );
    }
    let mut m = Vec::with_capacity(n * l * s);
    for b in 0..n {
        for i in 0..l {
            for j in 0..s {
                let causal_ok = !mask.causal || j <= i;
                let pad_ok = mask.key_padding.as_ref().is_none_or(|pad| !pad[b * s + j]);
                m.push(if causal_ok && pad_ok { T::ONE } else { T::ZERO });
            }
        }
    }
    Tensor::from_vec(m, &[n, 1, l, s])
}

impl<T: Float> Parameters<T> for MultiHeadAttention<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        f(&join_name(prefix, "in_proj_weight"), &self.in_proj_weight);
        f(&join_name(prefix, "in_proj_bias"), &self.in_proj_bias);
        self.out_proj.visit(&join_name(prefix, "out_proj"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        f(&join_name(prefix, "in_proj_weight"), &mut self.in_proj_weight);
        f(&join_name(prefix, "in_proj_bias"), &mut self.in_proj_bias);
        self.out_proj.visit_mut(&join_name(prefix, "out_proj"), f);
    }
}

impl<T: Float> Module<T> for MultiHeadAttention<T> {
    /// Self-attention of `x` `[N, L, E]`, causal if [`MultiHeadAttention::causal`].
    ///
    /// # Panics
    /// As [`MultiHeadAttention::attend`].
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let mask = AttentionMask { causal: self.causal, key_padding: None };
        self.attend(p, x, x, x, &mask).0
    }
}
