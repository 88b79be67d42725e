//! [`StateDict`]: named tensors plus string metadata, the unit that checkpoints store.

use std::collections::BTreeMap;

use wengert_autodiff::{Float, Tensor};

/// Named tensors and string metadata: a model's parameters, an optimiser's or a
/// schedule's state, or all of them merged under distinct key prefixes.
///
/// Scalars that must round-trip bit-exactly (step counts, learning rates) go in
/// `metadata` as exact strings (integers in decimal, floats as `to_bits` hex).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateDict<T: Float> {
    /// Tensors by name (`layers.0.weight`, `optim.layers.0.weight.exp_avg`).
    pub tensors: BTreeMap<String, Tensor<T>>,
    /// String metadata by key.
    pub metadata: BTreeMap<String, String>,
}

impl<T: Float> StateDict<T> {
    /// An empty state dict.
    pub fn new() -> Self {
        StateDict { tensors: BTreeMap::new(), metadata: BTreeMap::new() }
    }

    /// Adds every entry of `other` with `prefix.` prepended to its keys.
    pub fn merge_prefixed(&mut self, prefix: &str, other: StateDict<T>) {
        for (k, v) in other.tensors {
            self.tensors.insert(format!("{prefix}.{k}"), v);
        }
        for (k, v) in other.metadata {
            self.metadata.insert(format!("{prefix}.{k}"), v);
        }
    }

    /// The entries whose keys start with `prefix.`, with the prefix removed.
    pub fn sub(&self, prefix: &str) -> StateDict<T> {
        let p = format!("{prefix}.");
        StateDict {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.clone())))
                .collect(),
            metadata: self
                .metadata
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.clone())))
                .collect(),
        }
    }
}

/// A float written as an exact string (`to_bits` in hex), for [`StateDict::metadata`].
pub fn f64_to_meta(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

/// The inverse of [`f64_to_meta`]; `None` if the string is not 16 hex digits.
pub fn f64_from_meta(s: &str) -> Option<f64> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(f64::from_bits)
}
