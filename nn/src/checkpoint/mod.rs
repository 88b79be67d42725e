//! Checkpoints in the [safetensors](https://github.com/huggingface/safetensors) format, so
//! weights move to and from PyTorch (`safetensors.torch.load_file`) and candle.
//!
//! | where | what |
//! |---|---|
//! | [`save`], [`load`] | a whole [`StateDict`]: tensors by name, metadata in the `__metadata__` map |
//! | [`save_model`], [`load_model`] | a model's parameters and buffers, names as [`Parameters::visit`] / [`Parameters::visit_buffers`] give them (`layers.0.weight`, `bn1.running_mean`) |
//! | [`state_dict`], [`load_state_dict`] | the same in memory, for merging optimiser state (`merge_prefixed("optim", ..)`) |
//! | [`write_atomic`] | temporary file, `fsync`, rename: a failed save leaves the old file intact |
//! | [`CheckpointError`] | what is wrong, naming the file or tensor |
//!
//! Tensors are stored little-endian with dtype `F32` or `F64` from `T`; a round trip is
//! bit-exact (including `-0.0`, subnormals and infinities). [`save`] also stores a 64-bit
//! checksum of names, shapes and data (FNV-1a constants, folded a word at a time) under the metadata key [`CHECKSUM_KEY`]; [`load`] verifies
//! and removes it, so a flipped data byte is an error rather than a silently different weight
//! (files written elsewhere have no checksum and load unchecked).
//!
//! ```
//! use wengert_autodiff::Tensor;
//! use wengert_nn::{checkpoint, Param, Parameters};
//!
//! let dir = std::env::temp_dir().join(format!("wengert-doc-ckpt-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("w.safetensors");
//! let model = vec![Param::new(Tensor::<f32>::from_vec(vec![1.0, -0.0, f32::INFINITY], &[3]))];
//! checkpoint::save_model(&path, &model).unwrap();
//! let mut fresh = vec![Param::new(Tensor::<f32>::zeros(&[3]))];
//! checkpoint::load_model(&path, &mut fresh).unwrap();
//! assert_eq!(fresh[0].value().as_slice()[2], f32::INFINITY);
//! assert!(fresh[0].value().as_slice()[1].is_sign_negative());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod atomic;
mod error;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, View};
use wengert_autodiff::{Float, Tensor};

pub use atomic::write_atomic;
pub use error::CheckpointError;

use crate::{Parameters, StateDict};

/// Metadata key under which [`save`] stores the checksum (16 hex digits) that [`load`] verifies.
pub const CHECKSUM_KEY: &str = "wengert.checksum";

/// The safetensors dtype of `T`.
fn dtype_of<T: Float>() -> Dtype {
    if T::DTYPE == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// A tensor's little-endian bytes, ready for the safetensors serializer.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_bytes<T: Float>(t: &Tensor<T>) -> Bytes {
    let dtype = dtype_of::<T>();
    let s = t.as_slice();
    let mut data = Vec::with_capacity(s.len() * dtype.size());
    match dtype {
        // `to_f64` is exact and `as f32` of an f32-valued f64 is exact: bits are preserved.
        Dtype::F32 => s.iter().for_each(|x| data.extend_from_slice(&(x.to_f64() as f32).to_le_bytes())),
        _ => s.iter().for_each(|x| data.extend_from_slice(&x.to_f64().to_le_bytes())),
    }
    Bytes { dtype, shape: t.shape().to_vec(), data }
}

fn from_bytes<T: Float>(dtype: Dtype, shape: &[usize], data: &[u8]) -> Tensor<T> {
    let v: Vec<T> = match dtype {
        Dtype::F32 => {
            data.chunks_exact(4).map(|c| T::from_f64(f32::from_le_bytes(c.try_into().unwrap()) as f64)).collect()
        }
        Dtype::I64 => {
            data.chunks_exact(8).map(|c| T::from_f64(i64::from_le_bytes(c.try_into().unwrap()) as f64)).collect()
        }
        _ => data.chunks_exact(8).map(|c| T::from_f64(f64::from_le_bytes(c.try_into().unwrap()))).collect(),
    };
    Tensor::from_vec(v, shape)
}

/// A corruption check over every tensor in name order. The stream is, per tensor, the
/// length-prefixed name, dtype size, rank, dims, data length and data, each segment cut into
/// little-endian 64-bit words `w` (the last one zero-padded) and folded as
/// `h <- (h ^ w) * 0x100000001b3 (mod 2^64)` from `h = 0xcbf29ce484222325` (FNV-1a's constants,
/// a word at a time). Each step is a bijection of `h`, so any single changed word is always
/// detected.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let word = |x: usize| (x as u64).to_le_bytes();
    for (name, dtype, shape, data) in tensors {
        eat(&word(name.len()));
        eat(name.as_bytes());
        eat(&word(dtype.size()));
        eat(&word(shape.len()));
        shape.iter().for_each(|&d| eat(&word(d)));
        eat(&word(data.len()));
        eat(data);
    }
    h
}

/// Writes `state` to `path` in the safetensors format, atomically ([`write_atomic`]).
///
/// # Errors
/// [`CheckpointError::InvalidName`] for a tensor named `__metadata__` or a metadata key equal to
/// [`CHECKSUM_KEY`]; [`CheckpointError::Io`] if writing fails (the old file, if any, is kept).
pub fn save<T: Float>(path: impl AsRef<Path>, state: &StateDict<T>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let reserved = state.tensors.keys().find(|k| *k == "__metadata__");
    if let Some(bad) = reserved.or_else(|| state.metadata.keys().find(|k| *k == CHECKSUM_KEY)) {
        return Err(CheckpointError::InvalidName { name: bad.clone() });
    }
    let bytes: Vec<(&str, Bytes)> = state.tensors.iter().map(|(k, t)| (k.as_str(), to_bytes(t))).collect();
    let sum = checksum(bytes.iter().map(|(k, b)| (*k, b.dtype, b.shape.as_slice(), b.data.as_slice())));
    let mut meta: HashMap<String, String> = state.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    meta.insert(CHECKSUM_KEY.to_string(), format!("{sum:016x}"));
    let buf = safetensors::serialize(bytes.iter().map(|(k, b)| (*k, b)), &Some(meta))
        .map_err(|e| CheckpointError::Format { path: path.to_path_buf(), reason: describe(&e) })?;
    write_atomic(path, |w| {
        w.write_all(&buf).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), action: "write", source })
    })
}

/// Reads a safetensors file written by [`save`], PyTorch or candle. Every tensor must have
/// dtype `T` (`F32` for `f32`, `F64` for `f64`), except that `I64` tensors (PyTorch's
/// `num_batches_tracked` counters) are converted to `T` (exact below `2^24` in `f32`, `2^53` in `f64`).
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be read; [`CheckpointError::Format`] if it is
/// truncated, its header is corrupt, or the checksum written by [`save`] does not match;
/// [`CheckpointError::DType`] naming the first tensor of another dtype.
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<StateDict<T>, CheckpointError> {
    load_filtered(path.as_ref(), |_| true)
}

/// [`load`] from the bytes of a file already read (for instance by one rank and broadcast to the others);
/// `path` only names the origin in errors.
///
/// # Errors
/// As [`load`], except that there is no reading to fail.
pub fn load_bytes<T: Float>(buf: &[u8], path: impl AsRef<Path>) -> Result<StateDict<T>, CheckpointError> {
    parse_filtered(buf, path.as_ref(), |_| true)
}

/// [`load`], converting only the tensors whose names pass `keep` (the checksum still covers all).
fn load_filtered<T: Float>(path: &Path, keep: impl Fn(&str) -> bool) -> Result<StateDict<T>, CheckpointError> {
    let buf = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    parse_filtered(&buf, path, keep)
}

fn parse_filtered<T: Float>(
    buf: &[u8],
    path: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<StateDict<T>, CheckpointError> {
    let format = |reason: String| CheckpointError::Format { path: path.to_path_buf(), reason };
    let st = SafeTensors::deserialize(buf).map_err(|e| format(describe(&e)))?;
    let (_, header) = SafeTensors::read_metadata(buf).map_err(|e| format(describe(&e)))?;
    let want = dtype_of::<T>();
    let mut views: Vec<_> = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let mut state = StateDict::new();
    for (name, v) in views.iter().filter(|(n, _)| keep(n)) {
        if v.dtype() != want && v.dtype() != Dtype::I64 {
            return Err(CheckpointError::DType {
                name: name.clone(),
                expected: format!("{want:?}"),
                found: format!("{:?}", v.dtype()),
            });
        }
        state.tensors.insert(name.clone(), from_bytes(v.dtype(), v.shape(), v.data()));
    }
    let mut meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    if let Some(stored) = meta.remove(CHECKSUM_KEY) {
        let sum = checksum(views.iter().map(|(k, v)| (k.as_str(), v.dtype(), v.shape(), v.data())));
        if stored != format!("{sum:016x}") {
            return Err(format(format!(
                "checksum mismatch (stored {stored}, computed {sum:016x}): the data is corrupted"
            )));
        }
    }
    state.metadata = meta;
    Ok(state)
}

/// A readable description of a safetensors parsing error.
fn describe(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => "file shorter than the 8-byte header length (truncated)".into(),
        SafeTensorError::HeaderTooLarge => "header length is implausibly large (corrupt length prefix)".into(),
        SafeTensorError::InvalidHeaderLength => {
            "header length exceeds the file size (truncated or corrupt length prefix)".into()
        }
        SafeTensorError::InvalidHeader => "header is not valid UTF-8".into(),
        SafeTensorError::InvalidHeaderStart | SafeTensorError::InvalidHeaderDeserialization => {
            "header is not a valid JSON tensor table".into()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "data section size disagrees with the header (truncated or trailing bytes)".into()
        }
        SafeTensorError::TensorInvalidInfo => "a tensor's byte range disagrees with its shape and dtype".into(),
        SafeTensorError::InvalidOffset(n) => format!("tensor {n:?} has invalid data offsets"),
        SafeTensorError::ValidationOverflow => "a tensor's shape overflows".into(),
        other => format!("{other}"),
    }
}

/// The state of `model` as a [`StateDict`]: every parameter and every [`Buffer`](crate::Buffer)
/// (running statistics), keyed by their hierarchical names as PyTorch's `state_dict()`.
pub fn state_dict<T: Float, M: Parameters<T> + ?Sized>(model: &M) -> StateDict<T> {
    let mut s = StateDict::new();
    model.visit("", &mut |n, p| {
        s.tensors.insert(n.to_string(), p.value().clone());
    });
    model.visit_buffers("", &mut |n, b| {
        s.tensors.insert(n.to_string(), b.get());
    });
    s
}

/// The name and shape of every parameter and buffer of `model`, in visiting order.
fn state_shapes<T: Float, M: Parameters<T> + ?Sized>(model: &M) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    model.visit("", &mut |n, p| out.push((n.to_string(), p.shape().to_vec())));
    model.visit_buffers("", &mut |n, b| out.push((n.to_string(), b.shape())));
    out
}

/// Loads the tensors of `state` into the parameters and buffers of `model` with the same names.
/// Keys that name neither (optimiser state under `optim.`, anything else) are ignored. Everything
/// is checked before anything is written, so on error `model` is untouched.
///
/// # Errors
/// [`CheckpointError::Missing`] for a parameter or buffer with no tensor, [`CheckpointError::Shape`]
/// for a tensor of another shape (both naming the entry; shapes in the error).
pub fn load_state_dict<T: Float, M: Parameters<T> + ?Sized>(
    model: &mut M,
    state: &StateDict<T>,
) -> Result<(), CheckpointError> {
    for (n, shape) in state_shapes(model) {
        match state.tensors.get(&n) {
            None => return Err(CheckpointError::Missing { name: n }),
            Some(t) if t.shape() != shape.as_slice() => {
                return Err(CheckpointError::Shape { name: n, expected: shape, found: t.shape().to_vec() })
            }
            Some(_) => {}
        }
    }
    model.visit_mut("", &mut |n, p| {
        if let Some(t) = state.tensors.get(n) {
            p.set(t.clone());
        }
    });
    model.visit_buffers("", &mut |n, b| {
        if let Some(t) = state.tensors.get(n) {
            b.set(t.clone());
        }
    });
    Ok(())
}

/// Saves the parameters and buffers of `model` to `path` ([`state_dict`] then [`save`]).
///
/// # Errors
/// As [`save`].
pub fn save_model<T: Float, M: Parameters<T> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
) -> Result<(), CheckpointError> {
    save(path, &state_dict(model))
}

/// Loads the parameters and buffers of `model` from `path` ([`load`] then [`load_state_dict`]);
/// tensors that name neither are ignored (not even their dtype is checked), so a file that also holds
/// optimiser state or integer buffers loads too. For a
/// model saved under a prefix, use `load_state_dict(model, &load(path)?.sub("prefix"))`.
///
/// # Errors
/// As [`load`] and [`load_state_dict`]; on any error `model` is untouched.
pub fn load_model<T: Float, M: Parameters<T> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
) -> Result<(), CheckpointError> {
    let names: std::collections::BTreeSet<String> = state_shapes(model).into_iter().map(|(n, _)| n).collect();
    let state = load_filtered::<T>(path.as_ref(), |n| names.contains(n))?;
    load_state_dict(model, &state)
}
