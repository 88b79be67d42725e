//! Convolution kernels on plain slices (no tape): im2col + GEMM, one sample per rayon task.
//!
//! For sample `n` and group `g`, with `col = im2col(x[n, g])` of shape `[cin_g kh kw, oh ow]`:
//! - forward:      `y[n, g] = W_g col` (`W_g` is `[cout_g, cin_g kh kw]`);
//! - input grad:   `dx[n, g] = col2im(W_g^T gy[n, g])` (a transposed convolution);
//! - weight grad:  `dW_g = sum_n gy[n, g] col^T` (a correlation of the input with the output gradient).

use rayon::prelude::*;

use super::Geom;
use crate::tensor::parallel;
use crate::Float;

/// Below this many multiply-adds a whole kernel runs on the caller's thread.
const PAR_MACS: usize = 1 << 16;

/// Output positions `o` in `0..len` whose input coordinate `o s + off - p` lies in `0..size`, as `lo..hi`.
fn valid_range(off: usize, p: usize, s: usize, size: usize, len: usize) -> (usize, usize) {
    let lo = if p > off { (p - off).div_ceil(s) } else { 0 };
    let hi = if size + p > off { (size - 1 + p - off) / s + 1 } else { 0 };
    let lo = lo.min(len);
    (lo, hi.min(len).max(lo))
}

/// `col[(c kh + i) kw + j, oy ow + ox] = x[c, oy s0 + i d0 - p0, ox s1 + j d1 - p1]`, zero outside `x`;
/// `x` holds the `cin_g` input planes of one sample and group.
fn im2col<T: Float>(x: &[T], geo: &Geom, col: &mut [T]) {
    let (h, w, oh, ow) = (geo.h, geo.w, geo.oh, geo.ow);
    let ([s0, s1], [p0, p1], [d0, d1]) = (geo.stride, geo.padding, geo.dilation);
    let mut rows = col.chunks_exact_mut(oh * ow);
    for plane in x.chunks_exact(h * w).take(geo.cin_g()) {
        for i in 0..geo.kh {
            let (y_lo, y_hi) = valid_range(i * d0, p0, s0, h, oh);
            for j in 0..geo.kw {
                let row = rows.next().expect("col has cin_g kh kw rows");
                let (x_lo, x_hi) = valid_range(j * d1, p1, s1, w, ow);
                row[..y_lo * ow].fill(T::ZERO);
                row[y_hi * ow..].fill(T::ZERO);
                for oy in y_lo..y_hi {
                    let src = &plane[(oy * s0 + i * d0 - p0) * w..][..w];
                    let out = &mut row[oy * ow..][..ow];
                    out[..x_lo].fill(T::ZERO);
                    out[x_hi..].fill(T::ZERO);
                    if x_lo == x_hi {
                        continue;
                    }
                    let ix0 = x_lo * s1 + j * d1 - p1;
                    if s1 == 1 {
                        out[x_lo..x_hi].copy_from_slice(&src[ix0..ix0 + x_hi - x_lo]);
                    } else {
                        for (o, &v) in out[x_lo..x_hi].iter_mut().zip(src[ix0..].iter().step_by(s1)) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x[c, iy, ix] += col[.., ..]` over every position that reads it.
fn col2im<T: Float>(col: &[T], geo: &Geom, x: &mut [T]) {
    let (h, w, oh, ow) = (geo.h, geo.w, geo.oh, geo.ow);
    let ([s0, s1], [p0, p1], [d0, d1]) = (geo.stride, geo.padding, geo.dilation);
    let mut rows = col.chunks_exact(oh * ow);
    for plane in x.chunks_exact_mut(h * w).take(geo.cin_g()) {
        for i in 0..geo.kh {
            let (y_lo, y_hi) = valid_range(i * d0, p0, s0, h, oh);
            for j in 0..geo.kw {
                let row = rows.next().expect("col has cin_g kh kw rows");
                let (x_lo, x_hi) = valid_range(j * d1, p1, s1, w, ow);
                if x_lo == x_hi {
                    continue;
                }
                for oy in y_lo..y_hi {
                    let dst = &mut plane[(oy * s0 + i * d0 - p0) * w..][..w];
                    let src = &row[oy * ow + x_lo..oy * ow + x_hi];
                    let ix0 = x_lo * s1 + j * d1 - p1;
                    for (d, &v) in dst[ix0..].iter_mut().step_by(s1).zip(src) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// A strided matrix operand: elements, row stride, column stride.
type Mat<'a, T> = (&'a [T], usize, usize);

/// `c = a b + beta c` for an `m x k` times `k x n` product into the row-major `m x n` slice `c`.
///
/// # Panics
/// If a stride reaches outside its slice.
fn gemm<T: Float>((m, k, n): (usize, usize, usize), a: Mat<'_, T>, b: Mat<'_, T>, beta: T, c: &mut [T]) {
    if m == 0 || n == 0 {
        return;
    }
    if k > 0 {
        assert!((m - 1) * a.1 + (k - 1) * a.2 < a.0.len(), "conv gemm: left operand out of bounds");
        assert!((k - 1) * b.1 + (n - 1) * b.2 < b.0.len(), "conv gemm: right operand out of bounds");
    }
    assert!(m * n <= c.len(), "conv gemm: output out of bounds");
    // SAFETY: the asserts above keep every element the strides address inside `a`, `b` and `c`;
    // `c` is an exclusive borrow, so it aliases neither input (matrixmultiply reads C only when beta != 0,
    // and `c` is initialised anyway).
    unsafe {
        T::gemm(
            m,
            k,
            n,
            T::ONE,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Runs `f(n, out_n, scratch)` for every sample `n`, where `out_n` is the `n`-th chunk of `out` of
/// length `per`; samples go to rayon's pool when the whole job has at least [`PAR_MACS`] multiply-adds.
fn per_sample<T: Float>(
    out: &mut [T],
    per: usize,
    macs: usize,
    scratch: usize,
    f: impl Fn(usize, &mut [T], &mut Vec<T>) + Sync + Send,
) {
    if per == 0 {
        return;
    }
    if parallel::split(macs, PAR_MACS) {
        out.par_chunks_mut(per).enumerate().for_each_init(|| vec![T::ZERO; scratch], |col, (n, o)| f(n, o, col));
    } else {
        let mut col = vec![T::ZERO; scratch];
        out.chunks_mut(per).enumerate().for_each(|(n, o)| f(n, o, &mut col));
    }
}

/// The cross-correlation `y[n, co] = sum_{ci in group, i, j} w[co, ci, i, j] x[n, ci, oy s + i d - p, ox s + j d - p]`.
pub(crate) fn forward<T: Float>(x: &[T], w: &[T], geo: &Geom) -> Vec<T> {
    let (cin_g, cout_g, ck, ohw) = (geo.cin_g(), geo.cout_g(), geo.ck(), geo.oh * geo.ow);
    let mut y = vec![T::ZERO; geo.n * geo.cout * ohw];
    let pointwise = geo.is_pointwise();
    let scratch = if pointwise { 0 } else { ck * ohw };
    per_sample(&mut y, geo.cout * ohw, geo.macs(), scratch, |n, y_n, col| {
        for g in 0..geo.groups {
            let xg = &x[(n * geo.cin + g * cin_g) * geo.h * geo.w..][..cin_g * geo.h * geo.w];
            let src: &[T] = if pointwise {
                xg
            } else {
                im2col(xg, geo, col);
                col
            };
            let wg = &w[g * cout_g * ck..][..cout_g * ck];
            gemm((cout_g, ck, ohw), (wg, ck, 1), (src, ohw, 1), T::ZERO, &mut y_n[g * cout_g * ohw..][..cout_g * ohw]);
        }
    });
    y
}

/// The transposed convolution `dx = C_x^T gy`: for every sample, `col2im(W_g^T gy[n, g])`.
pub(crate) fn input_grad<T: Float>(gy: &[T], w: &[T], geo: &Geom) -> Vec<T> {
    let (cin_g, cout_g, ck, ohw, hw) = (geo.cin_g(), geo.cout_g(), geo.ck(), geo.oh * geo.ow, geo.h * geo.w);
    let mut dx = vec![T::ZERO; geo.n * geo.cin * hw];
    let pointwise = geo.is_pointwise();
    let scratch = if pointwise { 0 } else { ck * ohw };
    per_sample(&mut dx, geo.cin * hw, geo.macs(), scratch, |n, dx_n, col| {
        for g in 0..geo.groups {
            let gg = &gy[(n * geo.cout + g * cout_g) * ohw..][..cout_g * ohw];
            let wg = &w[g * cout_g * ck..][..cout_g * ck];
            let dxg = &mut dx_n[g * cin_g * hw..][..cin_g * hw];
            if pointwise {
                gemm((ck, cout_g, ohw), (wg, 1, ck), (gg, ohw, 1), T::ZERO, dxg);
            } else {
                gemm((ck, cout_g, ohw), (wg, 1, ck), (gg, ohw, 1), T::ZERO, col);
                col2im(col, geo, dxg);
            }
        }
    });
    dx
}

/// Samples per accumulator of [`weight_grad`]: a fixed split (not one per thread), so that the
/// summation order, and with it the result, is the same on every run and thread count.
const WEIGHT_GRAD_PARTS: usize = 8;

/// The weight gradient `dW_g = sum_n gy[n, g] im2col(x[n, g])^T`.
pub(crate) fn weight_grad<T: Float>(x: &[T], gy: &[T], geo: &Geom) -> Vec<T> {
    let (cin_g, cout_g, ck, ohw) = (geo.cin_g(), geo.cout_g(), geo.ck(), geo.oh * geo.ow);
    let wlen = geo.cout * ck;
    let pointwise = geo.is_pointwise();
    let scratch = if pointwise { 0 } else { ck * ohw };
    let part = geo.n.div_ceil(WEIGHT_GRAD_PARTS).max(1);
    let accumulate = |samples: std::ops::Range<usize>| {
        let mut dw = vec![T::ZERO; wlen];
        let mut col = vec![T::ZERO; scratch];
        for n in samples {
            for g in 0..geo.groups {
                let xg = &x[(n * geo.cin + g * cin_g) * geo.h * geo.w..][..cin_g * geo.h * geo.w];
                let src: &[T] = if pointwise {
                    xg
                } else {
                    im2col(xg, geo, &mut col);
                    &col
                };
                let gg = &gy[(n * geo.cout + g * cout_g) * ohw..][..cout_g * ohw];
                gemm((cout_g, ohw, ck), (gg, ohw, 1), (src, 1, ohw), T::ONE, &mut dw[g * cout_g * ck..][..cout_g * ck]);
            }
        }
        dw
    };
    let ranges: Vec<_> = (0..geo.n).step_by(part).map(|s| s..(s + part).min(geo.n)).collect();
    let parts: Vec<Vec<T>> = if parallel::split(geo.macs(), PAR_MACS) && ranges.len() > 1 {
        ranges.into_par_iter().map(accumulate).collect()
    } else {
        ranges.into_iter().map(accumulate).collect()
    };
    let mut parts = parts.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![T::ZERO; wlen]);
    for p in parts {
        dw.iter_mut().zip(&p).for_each(|(a, &b)| *a += b);
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::Conv2dArgs;

    /// The definition, one output at a time.
    fn naive(x: &[f64], w: &[f64], geo: &Geom) -> Vec<f64> {
        let mut y = vec![0.0; geo.n * geo.cout * geo.oh * geo.ow];
        for n in 0..geo.n {
            for co in 0..geo.cout {
                let g = co / geo.cout_g();
                for oy in 0..geo.oh {
                    for ox in 0..geo.ow {
                        let mut s = 0.0;
                        for c in 0..geo.cin_g() {
                            for i in 0..geo.kh {
                                for j in 0..geo.kw {
                                    let iy =
                                        (oy * geo.stride[0] + i * geo.dilation[0]) as isize - geo.padding[0] as isize;
                                    let ix =
                                        (ox * geo.stride[1] + j * geo.dilation[1]) as isize - geo.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= geo.h as isize || ix >= geo.w as isize {
                                        continue;
                                    }
                                    let ci = g * geo.cin_g() + c;
                                    let xv = x[((n * geo.cin + ci) * geo.h + iy as usize) * geo.w + ix as usize];
                                    s += xv * w[((co * geo.cin_g() + c) * geo.kh + i) * geo.kw + j];
                                }
                            }
                        }
                        y[((n * geo.cout + co) * geo.oh + oy) * geo.ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn kernels_match_the_definition_and_are_adjoint() {
        let cases = [
            ([2, 2, 5, 5], [3, 2, 3, 3], Conv2dArgs::new()),
            ([1, 4, 7, 6], [4, 2, 2, 3], Conv2dArgs { stride: [2, 1], padding: [1, 2], dilation: [2, 1], groups: 2 }),
            ([3, 3, 4, 4], [6, 1, 1, 1], Conv2dArgs::new().groups(3)),
            ([2, 2, 4, 4], [2, 2, 1, 1], Conv2dArgs::new()),
            ([2, 1, 9, 9], [2, 1, 3, 3], Conv2dArgs::new().stride(3).padding(1)),
        ];
        for (xs, ws, args) in cases {
            let geo = Geom::new("test", &xs, &ws, &args).unwrap();
            let val = |i: usize| ((i * 37 + 11) % 17) as f64 / 8.0 - 1.0;
            let x: Vec<f64> = (0..xs.iter().product()).map(val).collect();
            let w: Vec<f64> = (0..ws.iter().product()).map(|i| val(i + 5)).collect();
            let y = forward(&x, &w, &geo);
            let want = naive(&x, &w, &geo);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{xs:?} {ws:?}: {a} vs {b}");
            }
            // <C(x, w), g> = <x, input_grad(g, w)> = <w, weight_grad(x, g)>
            let g: Vec<f64> = (0..y.len()).map(|i| val(i + 3)).collect();
            let f = dot(&y, &g);
            assert!((f - dot(&x, &input_grad(&g, &w, &geo))).abs() < 1e-10, "{xs:?}");
            assert!((f - dot(&w, &weight_grad(&x, &g, &geo))).abs() < 1e-10, "{xs:?}");
        }
    }
}
