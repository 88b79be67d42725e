//! Numeric kernels on plain tensors: no tape, no derivatives.
//!
//! The differentiable ops in [`crate::ops`] call these for their forward
//! values. Elementwise kernels split large tensors across threads ([`parallel::for_each_chunk_mut`]);
//! matmul reads its operands with strides, so transposed operands are never
//! copied: products with at most 16 columns run on the packing-free SIMD
//! kernels of `thin.rs`, the others on the packed kernel of `packed.rs` (both
//! need AVX2 + FMA or AVX-512F; without, `matrixmultiply`). Outputs come from
//! the per-thread buffer cache of `pool.rs`.

use std::mem::MaybeUninit;

use smallvec::SmallVec;

use super::{broadcast_shapes, numel, packed, parallel, pool, strides_of, thin, vmath, Shape, Tensor};
use crate::error::{arg_err, shape_err, AutodiffError, Result};
use crate::Float;

/// Tensors at least this long are processed in parallel chunks.
pub const PAR_THRESHOLD: usize = 1 << 15;
const CHUNK: usize = 1 << 13;

/// A vector of `n` elements written by `fill(start, chunk)`, which must write every element
/// of `chunk` (the elements `start..start + chunk.len()`). Chunks are split across threads when
/// `n >= PAR_THRESHOLD` (and intra-op parallelism is on: [`parallel::split`]). The buffer is never zeroed first: every element is written once.
fn filled<T: Float>(n: usize, fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send) -> Vec<T> {
    let mut out = pool::take(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    if parallel::split(n, PAR_THRESHOLD) {
        parallel::for_each_chunk_mut(spare, CHUNK, fill);
    } else {
        fill(0, spare);
    }
    // SAFETY: the capacity is at least `n`, and `fill` wrote each of the first `n` elements
    // (every chunk of `spare` was handed to it, and it writes all of each chunk).
    unsafe { out.set_len(n) };
    out
}

/// `f` applied to every element.
pub fn map<T: Float>(x: &Tensor<T>, f: impl Fn(T) -> T + Sync + Send) -> Tensor<T> {
    let src = x.as_slice();
    let out = filled(src.len(), |start, o| {
        o.iter_mut().zip(&src[start..]).for_each(|(o, &s)| {
            o.write(f(s));
        })
    });
    Tensor::from_parts(out, x.shape_vec())
}

/// `e^x` elementwise, vectorised for f32 and f64 (within 1 ulp; see `vmath`).
pub fn exp<T: Float>(x: &Tensor<T>) -> Tensor<T> {
    let src = x.as_slice();
    let out = filled(src.len(), |start, o| vmath::exp(&src[start..start + o.len()], o));
    Tensor::from_parts(out, x.shape_vec())
}

/// `tanh x` elementwise, vectorised for f32 and f64 (within 3 ulp; see `vmath`).
pub fn tanh<T: Float>(x: &Tensor<T>) -> Tensor<T> {
    let src = x.as_slice();
    let out = filled(src.len(), |start, o| vmath::tanh(&src[start..start + o.len()], o));
    Tensor::from_parts(out, x.shape_vec())
}

/// `f(a, b)` elementwise with NumPy broadcasting; `op` names the caller in errors.
pub fn zip<T: Float>(
    op: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Result<Tensor<T>> {
    let (sa, sb) = (a.as_slice(), b.as_slice());
    if a.shape() == b.shape() {
        let out = filled(sa.len(), |start, o| {
            o.iter_mut().zip(sa[start..].iter().zip(&sb[start..])).for_each(|(o, (&x, &y))| {
                o.write(f(x, y));
            })
        });
        return Ok(Tensor::from_parts(out, a.shape_vec()));
    }
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    if sb.len() == 1 {
        let y = sb[0];
        return Ok(map(a, |x| f(x, y)).reshape(&shape));
    }
    if sa.len() == 1 {
        let x = sa[0];
        return Ok(map(b, |y| f(x, y)).reshape(&shape));
    }
    let n = numel(&shape);
    let astr = broadcast_strides(a.shape(), &shape);
    let bstr = broadcast_strides(b.shape(), &shape);
    let last = *shape.last().unwrap_or(&1);
    let (ia, ib) = (astr.last().copied().unwrap_or(0), bstr.last().copied().unwrap_or(0));
    // Rows of the output (all axes but the last), each read at a pair of offsets; the three common
    // inner patterns (both operands along the row, one of them constant along it) are plain loops.
    let fill_rows = |r0: usize, o: &mut [MaybeUninit<T>]| {
        for_each_row(&shape, &astr, &bstr, r0, o.chunks_exact_mut(last), |o, oa, ob| match (ia, ib) {
            (1, 1) => o.iter_mut().zip(sa[oa..oa + last].iter().zip(&sb[ob..ob + last])).for_each(|(o, (&x, &y))| {
                o.write(f(x, y));
            }),
            (1, 0) => {
                let y = sb[ob];
                o.iter_mut().zip(&sa[oa..oa + last]).for_each(|(o, &x)| {
                    o.write(f(x, y));
                });
            }
            (0, 1) => {
                let x = sa[oa];
                o.iter_mut().zip(&sb[ob..ob + last]).for_each(|(o, &y)| {
                    o.write(f(x, y));
                });
            }
            _ => o.iter_mut().enumerate().for_each(|(j, o)| {
                o.write(f(sa[oa + j * ia], sb[ob + j * ib]));
            }),
        });
    };
    let out = if last == 0 { Vec::new() } else { filled_rows(n, last, fill_rows) };
    Ok(Tensor::from_parts(out, shape))
}

/// `acc += x` elementwise, in place (copying `acc`'s storage first if it is shared).
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn add_assign<T: Float>(acc: &mut Tensor<T>, x: &Tensor<T>) {
    assert_eq!(acc.shape(), x.shape(), "add_assign: shapes differ");
    let src = x.as_slice();
    let dst = acc.data_mut();
    if parallel::split(dst.len(), PAR_THRESHOLD) {
        parallel::for_each_chunk_mut(dst, CHUNK, |start, d| {
            d.iter_mut().zip(&src[start..]).for_each(|(d, &s)| *d += s);
        });
    } else {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
    }
}

/// Strides (in elements of `src`) with which `src` is read when broadcast to `target`: zero on broadcast axes.
fn broadcast_strides(src: &[usize], target: &[usize]) -> Shape {
    let s = strides_of(src);
    let off = target.len() - src.len();
    (0..target.len()).map(|i| if i < off || src[i - off] == 1 { 0 } else { s[i - off] }).collect()
}

/// Offsets into two broadcast operands of the start of row `r` (all axes but the last).
fn row_offsets(mut r: usize, shape: &[usize], astr: &[usize], bstr: &[usize]) -> (usize, usize) {
    let (mut oa, mut ob) = (0, 0);
    for d in (0..shape.len().saturating_sub(1)).rev() {
        let i = r % shape[d];
        r /= shape[d];
        oa += i * astr[d];
        ob += i * bstr[d];
    }
    (oa, ob)
}

/// Calls `body(row, offset_a, offset_b)` for consecutive rows (all axes of `shape` but the last) from
/// row `r0`, one per item of `rows`, stepping the two offsets like an odometer (no division per row).
fn for_each_row<'o, T: 'o>(
    shape: &[usize],
    astr: &[usize],
    bstr: &[usize],
    r0: usize,
    rows: impl Iterator<Item = &'o mut [T]>,
    mut body: impl FnMut(&'o mut [T], usize, usize),
) {
    if shape.contains(&0) {
        return; // no rows (and the odometer below would divide by the empty axis)
    }
    let outer = shape.len().saturating_sub(1);
    let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, outer);
    let mut rest = r0;
    for d in (0..outer).rev() {
        idx[d] = rest % shape[d];
        rest /= shape[d];
    }
    let (mut oa, mut ob) = row_offsets(r0, shape, astr, bstr);
    for row in rows {
        body(row, oa, ob);
        for d in (0..outer).rev() {
            idx[d] += 1;
            oa += astr[d];
            ob += bstr[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= astr[d] * shape[d];
            ob -= bstr[d] * shape[d];
            idx[d] = 0;
        }
    }
}

/// A vector of `n` elements, rows of `last`, written by `fill(first_row, rows)`, which must write every
/// element of the whole rows it is given; large outputs are split across threads at row boundaries.
fn filled_rows<T: Float>(n: usize, last: usize, fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send) -> Vec<T> {
    let mut out = pool::take(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    if parallel::split(n, PAR_THRESHOLD) {
        let rows_per_chunk = CHUNK.div_ceil(last);
        parallel::for_each_chunk_mut(spare, rows_per_chunk * last, |start, c| fill(start / last, c));
    } else {
        fill(0, spare);
    }
    // SAFETY: the capacity is at least `n`, and `fill` wrote every element of each chunk of whole rows
    // of `spare` (which covers the first `n` elements).
    unsafe { out.set_len(n) };
    out
}

/// `x` broadcast to `shape` (materialised).
pub fn broadcast_to<T: Float>(x: &Tensor<T>, shape: &[usize]) -> Result<Tensor<T>> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    let target = broadcast_shapes("broadcast_to", x.shape(), shape)?;
    if target.as_slice() != shape {
        return shape_err("broadcast_to", x.shape(), shape);
    }
    let xs = broadcast_strides(x.shape(), shape);
    let s = x.as_slice();
    let last = *shape.last().unwrap_or(&1);
    let il = xs.last().copied().unwrap_or(0);
    if last > 0 && shape.len() == 2 && (x.shape() == [1, last] || x.shape() == [last]) {
        // A row repeated (a bias): a copy per row.
        return Ok(Tensor::from_parts(
            filled_rows(numel(shape), last, |_, o| {
                for o in o.chunks_exact_mut(last) {
                    o.iter_mut().zip(s).for_each(|(o, &v)| {
                        o.write(v);
                    });
                }
            }),
            target,
        ));
    }
    if last > 0 && shape.len() == 2 && x.shape() == [shape[0], 1] {
        // A column repeated (a per-row statistic): a fill per row.
        return Ok(Tensor::from_parts(
            filled_rows(numel(shape), last, |r0, o| {
                for (o, &v) in o.chunks_exact_mut(last).zip(&s[r0..]) {
                    o.iter_mut().for_each(|o| {
                        o.write(v);
                    });
                }
            }),
            target,
        ));
    }
    let fill_rows = |r0: usize, o: &mut [MaybeUninit<T>]| {
        // The common cases (a bias row repeated, a column repeated) are a copy and a fill.
        for_each_row(shape, &xs, &xs, r0, o.chunks_exact_mut(last), |o, ox, _| match il {
            1 => o.iter_mut().zip(&s[ox..ox + last]).for_each(|(o, &v)| {
                o.write(v);
            }),
            0 => {
                let v = s[ox];
                o.iter_mut().for_each(|o| {
                    o.write(v);
                });
            }
            _ => o.iter_mut().enumerate().for_each(|(j, o)| {
                o.write(s[ox + j * il]);
            }),
        });
    };
    let out = if last == 0 { Vec::new() } else { filled_rows(numel(shape), last, fill_rows) };
    Ok(Tensor::from_parts(out, target))
}

/// Sums `x` down to `shape`, the inverse of broadcasting `shape` up to `x.shape()`.
pub fn sum_to<T: Float>(x: &Tensor<T>, shape: &[usize]) -> Result<Tensor<T>> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    let nd = x.ndim();
    if shape.len() > nd {
        return shape_err("sum_to", x.shape(), shape);
    }
    let off = nd - shape.len();
    let mut axes: SmallVec<[usize; 4]> = (0..off).collect();
    for (i, &s) in shape.iter().enumerate() {
        if s == 1 && x.shape()[i + off] != 1 {
            axes.push(i + off);
        } else if s != x.shape()[i + off] {
            return shape_err("sum_to", x.shape(), shape);
        }
    }
    Ok(reduce(x, &axes, T::ZERO, |a, b| a + b).reshape(shape))
}

/// Reduces `x` over sorted, distinct `axes` with `f` starting from `init`, keeping the reduced axes as size 1.
/// A fold over an empty axis gives `init`; reducing beside an empty axis gives an empty tensor.
///
/// # Panics
/// If an axis is out of range (the differentiable reductions on [`crate::Var`] check their axes first).
#[track_caller]
pub fn reduce<T: Float>(x: &Tensor<T>, axes: &[usize], init: T, f: impl Fn(T, T) -> T + Sync + Send) -> Tensor<T> {
    let shape = x.shape();
    let mut out_shape: Shape = Shape::from_slice(shape);
    for &a in axes {
        out_shape[a] = 1;
    }
    if axes.is_empty() {
        return x.clone();
    }
    // Contiguous run of axes: view as (outer, r, inner).
    let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
    let (src, view_shape) = if contiguous {
        (x.clone(), shape.to_vec())
    } else {
        // Move reduced axes to the end, then they form a run.
        let mut perm: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
        perm.extend_from_slice(axes);
        let p = permute(x, &perm).expect("valid permutation");
        let s = p.shape().to_vec();
        (p, s)
    };
    let (lo, hi) =
        if contiguous { (axes[0], axes[axes.len() - 1] + 1) } else { (shape.len() - axes.len(), shape.len()) };
    let outer: usize = view_shape[..lo].iter().product();
    let r: usize = view_shape[lo..hi].iter().product();
    let inner: usize = view_shape[hi..].iter().product();
    let s = src.as_slice();
    let mut out = pool::full(outer * inner, init);
    if out.is_empty() || r == 0 {
        // An empty result, or folds over nothing: `init` everywhere (a sum over an empty axis is 0).
        return Tensor::from_parts(out, out_shape);
    }
    if inner == 1 {
        // Each row's fold is a latency chain, but the rows are independent: out-of-order execution
        // overlaps them (grouping 8 rows by hand measured slower).
        let body = |(o, row): (&mut T, &[T])| *o = row.iter().fold(init, |acc, &v| f(acc, v));
        if parallel::split(s.len(), PAR_THRESHOLD) {
            parallel::for_each_chunk_mut(&mut out, CHUNK.div_ceil(r), |start, o| {
                o.iter_mut().zip(s[start * r..].chunks(r)).for_each(body)
            });
        } else {
            out.iter_mut().zip(s.chunks(r)).for_each(body);
        }
    } else {
        const NARROW: usize = 16;
        const SPLIT: usize = 4;
        let body = |(o_blk, blk): (&mut [T], &[T])| {
            if inner <= NARROW && blk.len() >= SPLIT * inner {
                // Narrow rows (a bias gradient over 10 classes): SPLIT partial results over interleaved
                // rows, so consecutive rows do not wait on each other's store-to-load round trip.
                let mut acc = [[init; NARROW]; SPLIT];
                for rows in blk.chunks(SPLIT * inner) {
                    for (a, row) in acc.iter_mut().zip(rows.chunks_exact(inner)) {
                        a[..inner].iter_mut().zip(row).for_each(|(o, &v)| *o = f(*o, v));
                    }
                }
                for (j, o) in o_blk.iter_mut().enumerate() {
                    *o = acc.iter().fold(*o, |s, a| f(s, a[j]));
                }
            } else {
                for row in blk.chunks(inner) {
                    o_blk.iter_mut().zip(row).for_each(|(o, &v)| *o = f(*o, v));
                }
            }
        };
        if parallel::split(s.len(), PAR_THRESHOLD) && outer > 1 {
            parallel::for_each_chunk_mut(&mut out, CHUNK.div_ceil(r * inner) * inner, |start, o| {
                o.chunks_mut(inner).zip(s[start * r..].chunks(r * inner)).for_each(body)
            });
        } else {
            out.chunks_mut(inner).zip(s.chunks(r * inner)).for_each(body);
        }
    }
    Tensor::from_parts(out, out_shape)
}

/// Axes permuted: output axis `i` is input axis `perm[i]`.
pub fn permute<T: Float>(x: &Tensor<T>, perm: &[usize]) -> Result<Tensor<T>> {
    let nd = x.ndim();
    let mut seen = vec![false; nd];
    if perm.len() != nd || perm.iter().any(|&p| p >= nd || std::mem::replace(&mut seen[p], true)) {
        return arg_err("permute", format!("{perm:?} is not a permutation of the axes of {:?}", x.shape()));
    }
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(x.clone());
    }
    let in_str = strides_of(x.shape());
    let out_shape: Shape = perm.iter().map(|&p| x.shape()[p]).collect();
    let str_: Shape = perm.iter().map(|&p| in_str[p]).collect();
    let n = x.numel();
    let s = x.as_slice();
    let mut out = pool::take(n);
    let mut idx: Shape = SmallVec::from_elem(0, nd);
    let mut off = 0usize;
    for _ in 0..n {
        out.push(s[off]);
        for d in (0..nd).rev() {
            idx[d] += 1;
            off += str_[d];
            if idx[d] < out_shape[d] {
                break;
            }
            off -= str_[d] * out_shape[d];
            idx[d] = 0;
        }
    }
    Ok(Tensor::from_parts(out, out_shape))
}

/// Shape of `op(a) op(b)` for batched matmul with optional transposes of the last two axes.
pub fn matmul_shape(a: &[usize], b: &[usize], ta: bool, tb: bool) -> Result<Shape> {
    if a.len() < 2 || b.len() < 2 {
        return arg_err("matmul", format!("operands must have rank >= 2, got {a:?} and {b:?}"));
    }
    let (am, ak) = if ta { (a[a.len() - 1], a[a.len() - 2]) } else { (a[a.len() - 2], a[a.len() - 1]) };
    let (bk, bn) = if tb { (b[b.len() - 1], b[b.len() - 2]) } else { (b[b.len() - 2], b[b.len() - 1]) };
    if ak != bk {
        return shape_err("matmul", a, b);
    }
    let mut out = broadcast_shapes("matmul", &a[..a.len() - 2], &b[..b.len() - 2])
        .map_err(|_| AutodiffError::ShapeMismatch { op: "matmul", lhs: a.into(), rhs: b.into() })?;
    out.push(am);
    out.push(bn);
    Ok(out)
}

/// `op(a) op(b)` where `op` transposes the last two axes when its flag is set; batch axes broadcast.
pub fn matmul<T: Float>(a: &Tensor<T>, b: &Tensor<T>, ta: bool, tb: bool) -> Result<Tensor<T>> {
    let out_shape = matmul_shape(a.shape(), b.shape(), ta, tb)?;
    let nd = out_shape.len();
    let (m, n) = (out_shape[nd - 2], out_shape[nd - 1]);
    let k = if ta { a.shape()[a.ndim() - 2] } else { a.shape()[a.ndim() - 1] };
    let batch: usize = out_shape[..nd - 2].iter().product();
    // Not zeroed: with beta = 0 the gemm writes every element of C without reading it.
    let mut out: Vec<T> = pool::take(batch * m * n);
    let (ar, ac) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let (br, bc) = (b.shape()[b.ndim() - 2], b.shape()[b.ndim() - 1]);
    // Row/column strides of op(a), op(b): a transpose is a swap of strides, never a copy.
    let (rsa, csa) = if ta { (1, ac as isize) } else { (ac as isize, 1) };
    let (rsb, csb) = if tb { (1, bc as isize) } else { (bc as isize, 1) };
    let bshape = &out_shape[..nd - 2];
    let astr = broadcast_strides(&a.shape()[..a.ndim() - 2], bshape);
    let bstr = broadcast_strides(&b.shape()[..b.ndim() - 2], bshape);
    let (mut pa, pb) = (a.as_slice(), b.as_slice());
    // A data matrix times thin right operands, again and again: read its column-major copy, which the
    // thin kernel for contiguous columns uses without padding `n` to whole vectors.
    let (mut rsa, mut csa) = (rsa, csa);
    if !ta && a.ndim() == 2 && n <= thin::MAX_N && m >= 64 && k >= 8 && thin::available::<T>() {
        if let Some(cm) = a.column_major() {
            (pa, rsa, csa) = (cm, 1, m as isize);
        }
    }
    let run = |i: usize, c: &mut [MaybeUninit<T>]| {
        let (oa, ob) = batch_offsets(i, bshape, &astr, &bstr);
        // SAFETY: `oa`/`ob` index whole matrices inside `pa`/`pb` (broadcast strides are
        // in units of matrices), the strides describe `m x k` and `k x n` views of
        // those matrices, and `c` is a distinct, exclusively borrowed `m x n` buffer,
        // which `gemm` with `beta = 0` only writes (matrixmultiply: "if beta is zero,
        // then C does not need to be initialized"), also when `k = 0`.
        unsafe {
            gemm_sized(
                (m, k, n),
                (pa.as_ptr().add(oa * ar * ac), rsa, csa),
                (pb.as_ptr().add(ob * br * bc), rsb, csb),
                T::ZERO,
                (c.as_mut_ptr().cast::<T>(), n as isize, 1),
            )
        }
    };
    let spare = &mut out.spare_capacity_mut()[..batch * m * n];
    if m * n == 0 {
    } else if batch > 1 && m * n * k < 1 << 18 && parallel::split(batch, 2) {
        // Small products: one whole gemm per task (each stays on its thread: below `packed::PAR_FLOPS`
        // and matrixmultiply's own threshold, so no two pools share the cores).
        parallel::for_each_chunk_mut(spare, m * n, |start, c| run(start / (m * n), c));
    } else {
        // Large products: the kernels split each one themselves (the assistant thread, or
        // matrixmultiply's `threading` feature where it is the kernel).
        spare.chunks_mut(m * n).enumerate().for_each(|(i, c)| run(i, c));
    }
    // SAFETY: every `m x n` block of the first `batch * m * n` elements was written by `run`
    // (or there are none when `m * n == 0`).
    unsafe { out.set_len(batch * m * n) };
    Ok(Tensor::from_parts(out, out_shape))
}

/// A matrix operand: pointer, row stride, column stride.
type Mat<T> = (*const T, isize, isize);

/// Below this many flops a product runs on one thread: matrixmultiply decides its thread count from
/// `m k + k n` alone, so thin products (`n = 10` output classes, a bias-sized operand) were handed to
/// its thread pool, whose wake-up and yield cost more than the product (perf: ~40% of trust-region
/// Newton-CG on digits logistic regression was scheduler time).
const THREADED_FLOPS: usize = 1 << 23;
/// matrixmultiply stays single-threaded while `m k + k n` is below this (its `threading.rs`).
const SERIAL_SIZE: usize = 1 << 15;

/// `C = op(A) op(B) + beta C`: on the thin or the packed SIMD kernels when they take it, else through
/// matrixmultiply, cut into pieces small enough to stay on one thread when the whole product is too small
/// to gain from threads (see [`THREADED_FLOPS`]).
/// Pieces split the largest of `m`, `k`, `n`; a split of `k` accumulates (`beta = 1`) into the
/// piece of `C` the first half wrote.
///
/// # Safety
/// As [`Float::gemm`]: the pointers and strides describe valid `m x k`, `k x n` and `m x n`
/// matrices, `c` aliases neither input, and with `beta = 0` `c` may be uninitialised.
unsafe fn gemm_sized<T: Float>(
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): Mat<T>,
    (b, rsb, csb): Mat<T>,
    beta: T,
    (c, rsc, csc): (*mut T, isize, isize),
) {
    // SAFETY: the caller's operands, as `thin::gemm` requires; `C^T = op(B)^T op(A)^T` is the same
    // product with the roles and strides of the operands swapped.
    unsafe {
        if thin::gemm((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc, csc))
            || (n > thin::MAX_N && thin::gemm((n, k, m), (b, csb, rsb), (a, csa, rsa), beta, (c, csc, rsc)))
            || packed::gemm((m, k, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc, csc))
        {
            return;
        }
    }
    let serial = m * k + k * n < SERIAL_SIZE || 2 * m * k * n >= THREADED_FLOPS;
    // SAFETY (all calls below): each piece is a sub-matrix of the caller's valid matrices, offset
    // by whole rows or columns within their bounds, and the pieces of `c` are disjoint.
    unsafe {
        if serial || (m <= 1 && k <= 1 && n <= 1) {
            T::gemm(m, k, n, T::ONE, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        } else if m >= k && m >= n {
            let h = m / 2;
            gemm_sized((h, k, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc, csc));
            let (a2, c2) = (a.offset(h as isize * rsa), c.offset(h as isize * rsc));
            gemm_sized((m - h, k, n), (a2, rsa, csa), (b, rsb, csb), beta, (c2, rsc, csc));
        } else if k >= n {
            let h = k / 2;
            gemm_sized((m, h, n), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc, csc));
            let (a2, b2) = (a.offset(h as isize * csa), b.offset(h as isize * rsb));
            gemm_sized((m, k - h, n), (a2, rsa, csa), (b2, rsb, csb), T::ONE, (c, rsc, csc));
        } else {
            let h = n / 2;
            gemm_sized((m, k, h), (a, rsa, csa), (b, rsb, csb), beta, (c, rsc, csc));
            let (b2, c2) = (b.offset(h as isize * csb), c.offset(h as isize * csc));
            gemm_sized((m, k, n - h), (a, rsa, csa), (b2, rsb, csb), beta, (c2, rsc, csc));
        }
    }
}

fn batch_offsets(mut i: usize, shape: &[usize], astr: &[usize], bstr: &[usize]) -> (usize, usize) {
    let (mut oa, mut ob) = (0, 0);
    for d in (0..shape.len()).rev() {
        let j = i % shape[d];
        i /= shape[d];
        oa += j * astr[d];
        ob += j * bstr[d];
    }
    (oa, ob)
}

/// `(outer, n, inner)`: the sizes before, along and after `axis`, or an error naming `op` if
/// `axis` is not an axis of `shape`.
fn outer_axis_inner(op: &'static str, shape: &[usize], axis: usize) -> Result<(usize, usize, usize)> {
    if axis >= shape.len() {
        return arg_err(op, format!("axis {axis} is out of range for shape {shape:?}"));
    }
    Ok((shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product()))
}

/// Entries `indices` of `x` along `axis` (as `torch.index_select`).
pub fn index_select<T: Float>(x: &Tensor<T>, axis: usize, indices: &[usize]) -> Result<Tensor<T>> {
    let (outer, n, inner) = outer_axis_inner("index_select", x.shape(), axis)?;
    if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
        return Err(AutodiffError::IndexOutOfRange { op: "index_select", index: bad, bound: n });
    }
    let s = x.as_slice();
    let mut out = pool::take(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in indices {
            let st = (o * n + i) * inner;
            out.extend_from_slice(&s[st..st + inner]);
        }
    }
    let mut shape = x.shape_vec();
    shape[axis] = indices.len();
    Ok(Tensor::from_parts(out, shape))
}

/// Zeros of `shape` with `src`'s slices added at `indices` along `axis` (the adjoint of [`index_select`]).
pub fn index_add<T: Float>(shape: &[usize], axis: usize, indices: &[usize], src: &Tensor<T>) -> Result<Tensor<T>> {
    let (outer, n, inner) = outer_axis_inner("index_add", shape, axis)?;
    if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
        return Err(AutodiffError::IndexOutOfRange { op: "index_add", index: bad, bound: n });
    }
    let mut expect = Shape::from_slice(shape);
    expect[axis] = indices.len();
    if src.shape() != expect.as_slice() {
        return shape_err("index_add", src.shape(), &expect);
    }
    let mut out = pool::full(numel(shape), T::ZERO);
    let s = src.as_slice();
    let k = indices.len();
    for o in 0..outer {
        for (j, &i) in indices.iter().enumerate() {
            let d = (o * n + i) * inner;
            let sr = (o * k + j) * inner;
            out[d..d + inner].iter_mut().zip(&s[sr..sr + inner]).for_each(|(a, &b)| *a += b);
        }
    }
    Ok(Tensor::from_parts(out, Shape::from_slice(shape)))
}

/// Per-row gather: `out[.., j, ..] = x[.., idx[.., j, ..], ..]` along `axis`, as `torch.gather`.
/// `idx` has `x`'s shape except along `axis`.
pub fn gather<T: Float>(x: &Tensor<T>, axis: usize, idx: &[usize], idx_shape: &[usize]) -> Result<Tensor<T>> {
    check_gather("gather", x.shape(), axis, idx, idx_shape)?;
    let (outer, n, inner) = outer_axis_inner("gather", x.shape(), axis)?;
    let k = idx_shape[axis];
    let s = x.as_slice();
    let mut out = pool::take(idx.len());
    for o in 0..outer {
        for j in 0..k {
            for i in 0..inner {
                let src = idx[(o * k + j) * inner + i];
                out.push(s[(o * n + src) * inner + i]);
            }
        }
    }
    Ok(Tensor::from_parts(out, Shape::from_slice(idx_shape)))
}

/// Zeros of `shape` with `src` added at the positions [`gather`] reads (its adjoint).
pub fn scatter_add<T: Float>(shape: &[usize], axis: usize, idx: &[usize], src: &Tensor<T>) -> Result<Tensor<T>> {
    check_gather("scatter_add", shape, axis, idx, src.shape())?;
    let (outer, n, inner) = outer_axis_inner("scatter_add", shape, axis)?;
    let k = src.shape()[axis];
    let s = src.as_slice();
    let mut out = pool::full(numel(shape), T::ZERO);
    for o in 0..outer {
        for j in 0..k {
            for i in 0..inner {
                let p = (o * k + j) * inner + i;
                out[(o * n + idx[p]) * inner + i] += s[p];
            }
        }
    }
    Ok(Tensor::from_parts(out, Shape::from_slice(shape)))
}

fn check_gather(op: &'static str, shape: &[usize], axis: usize, idx: &[usize], idx_shape: &[usize]) -> Result<()> {
    if axis >= shape.len() {
        return arg_err(op, format!("axis {axis} is out of range for shape {shape:?}"));
    }
    let compatible = idx_shape.len() == shape.len()
        && idx_shape.iter().zip(shape).enumerate().all(|(d, (a, b))| d == axis || a == b);
    if !compatible || numel(idx_shape) != idx.len() {
        return shape_err(op, shape, idx_shape);
    }
    if let Some(&bad) = idx.iter().find(|&&i| i >= shape[axis]) {
        return Err(AutodiffError::IndexOutOfRange { op, index: bad, bound: shape[axis] });
    }
    Ok(())
}

/// Tensors joined along `axis`; all other axes must agree.
pub fn concat<T: Float>(xs: &[&Tensor<T>], axis: usize) -> Result<Tensor<T>> {
    let Some(first) = xs.first() else { return arg_err("concat", "no tensors to concatenate") };
    let (outer, _, inner) = outer_axis_inner("concat", first.shape(), axis)?;
    for x in xs {
        let ok = x.ndim() == first.ndim()
            && x.shape().iter().zip(first.shape()).enumerate().all(|(d, (a, b))| d == axis || a == b);
        if !ok {
            return shape_err("concat", first.shape(), x.shape());
        }
    }
    let total: usize = xs.iter().map(|x| x.shape()[axis]).sum();
    let mut out = pool::take(outer * total * inner);
    for o in 0..outer {
        for x in xs {
            let w = x.shape()[axis] * inner;
            out.extend_from_slice(&x.as_slice()[o * w..(o + 1) * w]);
        }
    }
    let mut shape = first.shape_vec();
    shape[axis] = total;
    Ok(Tensor::from_parts(out, shape))
}

/// `x[.., start..end, ..]` along `axis`.
pub fn slice<T: Float>(x: &Tensor<T>, axis: usize, start: usize, end: usize) -> Result<Tensor<T>> {
    let (outer, n, inner) = outer_axis_inner("slice", x.shape(), axis)?;
    if start > end || end > n {
        return Err(AutodiffError::IndexOutOfRange { op: "slice", index: end.max(start), bound: n + 1 });
    }
    let s = x.as_slice();
    let mut out = pool::take(outer * (end - start) * inner);
    for o in 0..outer {
        out.extend_from_slice(&s[(o * n + start) * inner..(o * n + end) * inner]);
    }
    let mut shape = x.shape_vec();
    shape[axis] = end - start;
    Ok(Tensor::from_parts(out, shape))
}

/// `x` placed at `start` along `axis` inside zeros of length `len` (the adjoint of [`slice()`]).
pub fn pad<T: Float>(x: &Tensor<T>, axis: usize, start: usize, len: usize) -> Result<Tensor<T>> {
    let (outer, w, inner) = outer_axis_inner("pad", x.shape(), axis)?;
    if start.checked_add(w).is_none_or(|end| end > len) {
        return arg_err("pad", format!("{w} entries at {start} do not fit in length {len} (shape {:?})", x.shape()));
    }
    let mut shape = x.shape_vec();
    shape[axis] = len;
    let bytes = shape.iter().try_fold(size_of::<T>(), |n, &d| n.checked_mul(d));
    if bytes.is_none_or(|b| b > isize::MAX as usize) {
        return arg_err("pad", format!("padding {:?} to length {len} overflows", x.shape()));
    }
    let mut out = pool::full(outer * len * inner, T::ZERO);
    let s = x.as_slice();
    for o in 0..outer {
        out[(o * len + start) * inner..(o * len + start + w) * inner]
            .copy_from_slice(&s[o * w * inner..(o + 1) * w * inner]);
    }
    Ok(Tensor::from_parts(out, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], s: &[usize]) -> Tensor<f64> {
        Tensor::from_vec(v.to_vec(), s)
    }

    #[test]
    fn broadcasting_zip() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let b = t(&[10., 20., 30.], &[3]);
        assert_eq!(zip("add", &a, &b, |x, y| x + y).unwrap().to_vec(), vec![11., 22., 33., 14., 25., 36.]);
        let c = t(&[100., 200.], &[2, 1]);
        assert_eq!(zip("add", &a, &c, |x, y| x + y).unwrap().to_vec(), vec![101., 102., 103., 204., 205., 206.]);
        let e = zip("add", &a, &t(&[1., 2.], &[2]), |x, y| x + y).unwrap_err();
        assert_eq!(e.to_string(), "add: shape mismatch between [2, 3] and [2]");
    }

    #[test]
    fn reductions() {
        let a = t(&(0..24).map(|x| x as f64).collect::<Vec<_>>(), &[2, 3, 4]);
        let s = reduce(&a, &[0, 2], 0.0, |x, y| x + y);
        assert_eq!(s.shape(), &[1, 3, 1]);
        // axis 1 index 0: rows 0..4 and 12..16 -> (0+1+2+3)+(12+13+14+15) = 60
        assert_eq!(s.to_vec(), vec![60., 92., 124.]);
        assert_eq!(sum_to(&a, &[3, 1]).unwrap().to_vec(), vec![60., 92., 124.]);
        assert_eq!(broadcast_to(&t(&[1., 2.], &[2, 1]), &[2, 2]).unwrap().to_vec(), vec![1., 1., 2., 2.]);
    }

    #[test]
    fn matmul_transposes() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let b = t(&[1., 0., 0., 1., 1., 1.], &[3, 2]);
        assert_eq!(matmul(&a, &b, false, false).unwrap().to_vec(), vec![4., 5., 10., 11.]);
        let at = permute(&a, &[1, 0]).unwrap();
        assert_eq!(matmul(&at, &b, true, false).unwrap().to_vec(), vec![4., 5., 10., 11.]);
        let bt = permute(&b, &[1, 0]).unwrap();
        assert_eq!(matmul(&a, &bt, false, true).unwrap().to_vec(), vec![4., 5., 10., 11.]);
        assert!(matmul(&a, &a, false, false).is_err());
    }

    #[test]
    fn matmul_writes_every_output_element() {
        // k = 0: the product of empty matrices is a matrix of zeros (nothing may be left unwritten).
        let z = matmul(&Tensor::<f64>::zeros(&[2, 3, 0]), &Tensor::zeros(&[0, 4]), false, false).unwrap();
        assert_eq!(z.shape(), &[2, 3, 4]);
        assert!(z.as_slice().iter().all(|&v| v == 0.0));
        // Batched: [[1,2],[3,4]] @ I = itself, 2 * [[1,2],[3,4]] @ I = doubled.
        let a = t(&[1., 2., 3., 4., 2., 4., 6., 8.], &[2, 2, 2]);
        let c = matmul(&a, &Tensor::eye(2), false, false).unwrap();
        assert_eq!(c.to_vec(), a.to_vec());
        // Above the parallel threshold, map and zip must still visit every element once.
        let n = PAR_THRESHOLD + 3;
        let x = Tensor::from_vec((0..n).map(|i| i as f64).collect(), &[n]);
        let y = zip("add", &map(&x, |v| 2.0 * v), &x, |a, b| a + b).unwrap();
        assert!(y.as_slice().iter().enumerate().all(|(i, &v)| v == 3.0 * i as f64));
    }

    #[test]
    fn add_assign_and_broadcast_rows() {
        let mut a = t(&[1., 2., 3.], &[3]);
        let shared = a.clone();
        add_assign(&mut a, &t(&[10., 20., 30.], &[3]));
        assert_eq!(a.to_vec(), vec![11., 22., 33.]);
        assert_eq!(shared.to_vec(), vec![1., 2., 3.], "a shared buffer is copied, not written");
        // A bias row repeated down the rows, a column repeated along them.
        assert_eq!(broadcast_to(&t(&[1., 2.], &[2]), &[2, 2]).unwrap().to_vec(), vec![1., 2., 1., 2.]);
        assert_eq!(broadcast_to(&t(&[1., 2.], &[2, 1]), &[2, 3]).unwrap().to_vec(), vec![1., 1., 1., 2., 2., 2.]);
    }

    #[test]
    fn indexing() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[3, 2]);
        assert_eq!(index_select(&a, 0, &[2, 0]).unwrap().to_vec(), vec![5., 6., 1., 2.]);
        let g = gather(&a, 1, &[1, 0, 1], &[3, 1]).unwrap();
        assert_eq!(g.to_vec(), vec![2., 3., 6.]);
        assert_eq!(scatter_add(&[3, 2], 1, &[1, 0, 1], &g).unwrap().to_vec(), vec![0., 2., 3., 0., 0., 6.]);
        assert_eq!(
            index_select(&a, 0, &[3]).unwrap_err(),
            AutodiffError::IndexOutOfRange { op: "index_select", index: 3, bound: 3 }
        );
        let s = slice(&a, 1, 1, 2).unwrap();
        assert_eq!(pad(&s, 1, 1, 2).unwrap().to_vec(), vec![0., 2., 0., 4., 0., 6.]);
        assert_eq!(concat(&[&a, &a], 1).unwrap().shape(), &[3, 4]);
    }

    #[test]
    fn short_row_reductions_and_2d_broadcasts_agree_with_naive() {
        // Row counts around the group of 8 rows reduced together, and both 2-D broadcast fast paths.
        for (rows, cols) in [(1, 5), (7, 10), (8, 3), (13, 10), (40_000, 2)] {
            let v: Vec<f64> = (0..rows * cols).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect();
            let x = t(&v, &[rows, cols]);
            let sums = sum_to(&x, &[rows, 1]).unwrap().to_vec();
            let maxes = reduce(&x, &[1], f64::NEG_INFINITY, f64::max).to_vec();
            for r in 0..rows {
                let row = &v[r * cols..(r + 1) * cols];
                assert_eq!(sums[r], row.iter().sum::<f64>(), "sum of row {r} of {rows}x{cols}");
                assert_eq!(maxes[r], row.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            }
            let col = t(&v[..rows], &[rows, 1]);
            let row = t(&v[..cols], &[1, cols]);
            let (bc, br) = (broadcast_to(&col, &[rows, cols]).unwrap(), broadcast_to(&row, &[rows, cols]).unwrap());
            let flat = broadcast_to(&t(&v[..cols], &[cols]), &[rows, cols]).unwrap();
            for (r, c) in [(0, 0), (rows - 1, cols - 1), (rows / 2, cols / 2)] {
                assert_eq!(bc.get(&[r, c]), v[r]);
                assert_eq!(br.get(&[r, c]), v[c]);
                assert_eq!(flat.get(&[r, c]), v[c]);
            }
        }
    }

    #[test]
    fn a_reused_data_matrix_gives_the_same_products_through_its_column_major_copy() {
        let (m, k, n) = (300, 20, 10);
        let x: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 97) as f64 / 97.0 - 0.5).collect();
        let v: Vec<f64> = (0..k * n).map(|i| ((i * 104729) % 89) as f64 / 89.0 - 0.5).collect();
        let (mut xt, vt) = (Tensor::from_vec(x.clone(), &[m, k]), Tensor::from_vec(v.clone(), &[k, n]));
        let naive = |x: &[f64]| -> Vec<f64> {
            (0..m * n).map(|e| (0..k).map(|l| x[e / n * k + l] * v[l * n + e % n]).sum()).collect()
        };
        let want = naive(&x);
        for use_ in 0..6 {
            let got = matmul(&xt, &vt, false, false).unwrap().to_vec();
            let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-12, "use {use_}: {err}");
        }
        // Writing to the matrix drops the copy: the next product sees the new data.
        xt.data_mut()[0] = 5.0;
        let mut x2 = x.clone();
        x2[0] = 5.0;
        let want2 = naive(&x2);
        for _ in 0..4 {
            let got = matmul(&xt, &vt, false, false).unwrap().to_vec();
            assert!(got.iter().zip(&want2).all(|(a, b)| (a - b).abs() < 1e-12));
        }
        // A reshaped view of the same storage is a different matrix.
        let flat = xt.reshape(&[m / 2, 2 * k]);
        let w = Tensor::from_vec(vec![1.0; 2 * k * 3], &[2 * k, 3]);
        let got = matmul(&flat, &w, false, false).unwrap();
        for (i, &g) in got.as_slice().iter().enumerate().step_by(3) {
            let row: f64 = x2[i / 3 * 2 * k..(i / 3 + 1) * 2 * k].iter().sum();
            assert!((g - row).abs() < 1e-12);
        }
    }

    #[test]
    fn thin_products_split_into_serial_pieces_agree_with_naive() {
        // Shapes that take each split of `gemm_sized`: rows (m), inner (k, accumulating), columns (n).
        for (m, k, n) in [(1797, 65, 10), (10, 4000, 3), (3, 50, 4000), (700, 700, 2)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 97) as f64 / 97.0 - 0.5).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 104729) % 89) as f64 / 89.0 - 0.5).collect();
            let (ta, tb) = (Tensor::from_vec(a.clone(), &[m, k]), Tensor::from_vec(b.clone(), &[k, n]));
            for (tra, trb) in [(false, false), (true, false), (false, true)] {
                let at = if tra { permute(&ta, &[1, 0]).unwrap() } else { ta.clone() };
                let bt = if trb { permute(&tb, &[1, 0]).unwrap() } else { tb.clone() };
                let c = matmul(&at, &bt, tra, trb).unwrap();
                for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 2), (m / 3, n - 1)] {
                    let want: f64 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                    let got = c.get(&[i, j]);
                    assert!(
                        (got - want).abs() < 1e-9 * k as f64,
                        "({m},{k},{n}) {tra} {trb} at ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
