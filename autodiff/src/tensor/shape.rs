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

/// Turns possibly negative axes into sorted, deduplicated axes in `0..ndim`.
pub fn normalize_axes(op: &'static str, axes: &[isize], ndim: usize) -> Result<SmallVec<[usize; 4]>> {
    let mut out: SmallVec<[usize; 4]> = SmallVec::new();
    for &a in axes {
        let ax = if a < 0 { a + ndim as isize } else { a };
        if ax < 0 || ax >= ndim as isize {
            return arg_err(op, format!("axis {a} is out of range for a tensor of rank {ndim}"));
        }
        out.push(ax as usize);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
