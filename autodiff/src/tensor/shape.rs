use smallvec::SmallVec;

use crate::error::{arg_err, shape_err, Result};

/// A tensor shape: dimensions stored inline up to rank 4.
pub type Shape = SmallVec<[usize; 4]>;

/// Number of elements of a shape (`1` for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape, in elements.
pub fn strides_of(shape: &[usize]) -> Shape {
    let mut s: Shape = SmallVec::from_elem(1, shape.len());
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy broadcasting: the shape both operands broadcast to, or an error naming `op`.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = SmallVec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out.push(if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return shape_err(op, a, b);
        });
    }
    Ok(out)
}

/// An axis of a tensor of rank `ndim` as an index in `0..ndim`: `axis` may be negative, counting
/// from the end (`-1` is the last axis), as in NumPy and PyTorch. The one rule for every op's axes.
pub fn normalize_axis(op: &'static str, axis: isize, ndim: usize) -> Result<usize> {
    let ax = if axis < 0 { axis.checked_add_unsigned(ndim).unwrap_or(-1) } else { axis };
    match usize::try_from(ax) {
        Ok(ax) if ax < ndim => Ok(ax),
        _ => arg_err(op, format!("axis {axis} is out of range for a tensor of rank {ndim}")),
    }
}

/// [`normalize_axis`] for several axes: sorted and deduplicated.
pub fn normalize_axes(op: &'static str, axes: &[isize], ndim: usize) -> Result<SmallVec<[usize; 4]>> {
    let mut out = axes.iter().map(|&a| normalize_axis(op, a, ndim)).collect::<Result<SmallVec<[usize; 4]>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
