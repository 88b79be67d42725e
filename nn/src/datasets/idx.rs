//! The IDX format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`),
//! for files users already have, uncompressed or gzip-compressed (`train-images-idx3-ubyte.gz` as distributed;
//! detected by the gzip magic bytes and decompressed with [`flate2`](https://docs.rs/flate2)).
//!
//! Layout: a big-endian `u32` magic number `0x0000_08DD` (`08` = unsigned bytes, `DD` = number of
//! dimensions), `DD` big-endian `u32` sizes, then the bytes in row-major order. Images are
//! `0x00000803` (`[n, rows, cols]`), labels `0x00000801` (`[n]`).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use wengert_autodiff::{Float, Tensor};

use super::error::LoadError;
use crate::data::{Targets, TensorDataset};

/// Magic number of an IDX file of unsigned-byte images `[n, rows, cols]`.
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels `[n]`.
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses a gzipped IDX file, reading no more than its header says plus one byte (so that trailing data
/// is still reported, and a small file claiming little cannot inflate into gigabytes).
fn gunzip(bytes: &[u8], file: &str) -> Result<Vec<u8>, LoadError> {
    let mut dec = GzDecoder::new(bytes);
    let err = |source| LoadError::Decompress { file: file.to_string(), source };
    let mut out = Vec::new();
    (&mut dec).take(4).read_to_end(&mut out).map_err(err)?;
    if out.len() < 4 {
        return Ok(out);
    }
    let ndim = out[3] as u64;
    (&mut dec).take(4 * ndim).read_to_end(&mut out).map_err(err)?;
    let claimed = out[4..]
        .chunks_exact(4)
        .try_fold(1u64, |a, c| a.checked_mul(u64::from(u32::from_be_bytes(c.try_into().expect("4 bytes")))));
    // An overflowing claim is reported by `parse`; read one byte past a valid one to detect trailing data.
    let rest = claimed.map_or(0, |n| n.saturating_add(1));
    (&mut dec).take(rest).read_to_end(&mut out).map_err(err)?;
    Ok(out)
}

/// Checks magic and sizes and returns `(dims, data)`, decompressing gzip first.
fn parse<'a>(bytes: &'a [u8], file: &str, magic: u32) -> Result<(Vec<usize>, Cow<'a, [u8]>), LoadError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let raw = gunzip(bytes, file)?;
        let (dims, data) = parse_raw(&raw, file, magic)?;
        return Ok((dims, Cow::Owned(data.to_vec())));
    }
    let (dims, data) = parse_raw(bytes, file, magic)?;
    Ok((dims, Cow::Borrowed(data)))
}

/// [`parse`] of uncompressed bytes.
fn parse_raw<'a>(bytes: &'a [u8], file: &str, magic: u32) -> Result<(Vec<usize>, &'a [u8]), LoadError> {
    let truncated = |expected: usize| LoadError::Truncated { file: file.to_string(), expected, found: bytes.len() };
    if bytes.len() < 4 {
        return Err(truncated(4));
    }
    let found = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    if found != magic {
        return Err(LoadError::BadMagic { file: file.to_string(), found, expected: magic });
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(truncated(header));
    }
    let dims: Vec<usize> =
        bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize).collect();
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).and_then(|n| n.checked_add(header));
    let Some(expected) = n else {
        return Err(LoadError::SizeMismatch { file: file.to_string(), what: format!("dimensions {dims:?} overflow") });
    };
    if bytes.len() < expected {
        return Err(truncated(expected));
    }
    if bytes.len() > expected {
        return Err(LoadError::SizeMismatch {
            file: file.to_string(),
            what: format!("{} trailing bytes after the {expected} the header {dims:?} implies", bytes.len() - expected),
        });
    }
    Ok((dims, &bytes[header..]))
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io { file: path.display().to_string(), source })
}

/// Parses IDX images (magic `0x00000803`, uncompressed or gzipped) into a tensor `[n, rows, cols]` of raw
/// byte values `0..=255`; `source` names the bytes in errors.
///
/// # Errors
/// [`LoadError::BadMagic`], [`LoadError::Truncated`] if the file is shorter than its header
/// implies, [`LoadError::SizeMismatch`] for trailing bytes or sizes that overflow, [`LoadError::Decompress`]
/// for a corrupt gzip stream.
pub fn parse_idx_images<T: Float>(bytes: &[u8], source: &str) -> Result<Tensor<T>, LoadError> {
    let (dims, data) = parse(bytes, source, IDX_IMAGES_MAGIC)?;
    Ok(Tensor::from_vec(data.iter().map(|&b| T::from_f64(b as f64)).collect(), &dims))
}

/// Parses IDX labels (magic `0x00000801`, uncompressed or gzipped); `source` names the bytes in errors.
///
/// # Errors
/// As [`parse_idx_images`].
pub fn parse_idx_labels(bytes: &[u8], source: &str) -> Result<Vec<usize>, LoadError> {
    let (_, data) = parse(bytes, source, IDX_LABELS_MAGIC)?;
    Ok(data.iter().map(|&b| b as usize).collect())
}

/// Reads an IDX images file: `[n, rows, cols]`, raw byte values `0..=255`.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read, otherwise as [`parse_idx_images`].
pub fn load_idx_images<T: Float>(path: impl AsRef<Path>) -> Result<Tensor<T>, LoadError> {
    let path = path.as_ref();
    parse_idx_images(&read(path)?, &path.display().to_string())
}

/// Reads an IDX labels file.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read, otherwise as [`parse_idx_labels`].
pub fn load_idx_labels(path: impl AsRef<Path>) -> Result<Vec<usize>, LoadError> {
    let path = path.as_ref();
    parse_idx_labels(&read(path)?, &path.display().to_string())
}

/// An MNIST-style dataset from an images and a labels IDX file: features `[n, rows * cols]`
/// scaled by `1/255` into `[0, 1]`, class labels.
///
/// # Errors
/// As [`load_idx_images`] and [`load_idx_labels`], and [`LoadError::SizeMismatch`] naming both
/// files if they hold different numbers of items.
pub fn load_mnist<T: Float>(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<TensorDataset<T>, LoadError> {
    let x = load_idx_images::<T>(images.as_ref())?;
    let y = load_idx_labels(labels.as_ref())?;
    let (n, d) = (x.shape()[0], x.shape()[1] * x.shape()[2]);
    if n != y.len() {
        return Err(LoadError::SizeMismatch {
            file: images.as_ref().display().to_string(),
            what: format!("{n} images but {} labels in {}", y.len(), labels.as_ref().display()),
        });
    }
    // `b / 255` in f64 then rounded once: the correctly rounded value in either precision.
    let x = Tensor::from_vec(x.as_slice().iter().map(|&v| T::from_f64(v.to_f64() / 255.0)).collect(), &[n, d]);
    Ok(TensorDataset::new(x, Targets::Labels(y)))
}
