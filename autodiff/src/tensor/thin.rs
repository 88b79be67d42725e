//! Products with a thin right operand: `C = op(A) B + beta C` with `n <= 16` columns, without packing.
//!
//! `matrixmultiply` packs both operands into panels before its micro-kernel runs. For the products a
//! classifier head and its derivatives make — `X W` with `W` of `k x 10`, and `X^T R` with `R` of `m x 10`
//! — packing the large operand costs a quarter of the product, and its 4-wide AVX2 columns waste lanes on
//! `n = 10`. The two kernels here read the large operand where it lies, once:
//!
//! * **rows of `A` contiguous** (`X W`): `B` is copied into a `k x (NV W)` zero-padded panel (a few KB,
//!   `W` lanes per vector, `NV = ceil(n / W)` vectors), and `R` rows of `C` at a time are accumulated as
//!   `C[i, :] += A[i, l] B[l, :]`: one broadcast and `NV` fused multiply-adds per row and `l`.
//! * **columns of `A` contiguous** (`X^T R`, a transposed view of a row-major matrix): `W` rows of `C` are
//!   one vector, and for each `l` the column piece `A[i..i + W, l]` is one load, multiplied by each
//!   `B[l, j]` into the `n` accumulators `C[i..i + W, j]` (`n` is a compile-time constant, 1 to 16).
//!
//! Written once over the small [`Lanes`] vector trait (`lanes.rs`), instantiated for AVX-512F and AVX2 + FMA
//! and chosen at run time. Without either, or for an `A` strided both ways,
//! [`gemm`] returns `false` and the caller uses `matrixmultiply`. Products above [`PAR_FLOPS`] split
//! their rows in two, the second half for the assistant thread ([`super::assist`]).

use super::assist::{self, Shared};
use super::lanes::{level, pick, Lanes, Level};
use crate::Float;

/// Widest `n` the thin kernels take.
pub const MAX_N: usize = 16;
/// Products of at least this many flops split their rows in two, the second half for the spinning
/// assistant thread ([`super::assist`]).
pub const PAR_FLOPS: usize = 1 << 20;

/// A matrix operand: pointer, row stride, column stride.
type Mat<T> = (*const T, isize, isize);
/// The output operand.
type MatMut<T> = (*mut T, isize, isize);

/// `C = op(A) B + beta C` for an `m x k` `A`, `k x n` `B`, when the thin kernels apply (`n <= 16`, one of
/// `A`'s strides is 1, the CPU has AVX2 + FMA or AVX-512F). Returns `false`, having done nothing, otherwise.
///
/// # Safety
/// The pointers and strides describe valid `m x k`, `k x n` and `m x n` matrices; `c` aliases neither input
/// and, with `beta = 0`, may be uninitialised (it is then only written).
pub(super) unsafe fn gemm<T: Float>(
    (m, k, n): (usize, usize, usize),
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: MatMut<T>,
) -> bool {
    if n == 0 || n > MAX_N || m == 0 || k == 0 || (a.2 != 1 && a.1 != 1) {
        return false;
    }
    let Some(kernel) = kernel::<T>() else { return false };
    let (ap, bp, cp) = (Shared(a), Shared(b), Shared(c));
    let rows = move |lo: usize, hi: usize| {
        let (a, c) = (ap.get(), cp.get());
        let a = (a.0.wrapping_offset(lo as isize * a.1), a.1, a.2);
        let c = (c.0.wrapping_offset(lo as isize * c.1), c.1, c.2);
        // SAFETY: rows `lo..hi` of the caller's valid `A` and `C`, and its `B`; the two tasks of the
        // split below write disjoint rows of `C`. `kernel` was chosen for this CPU's features.
        unsafe { kernel((hi - lo, k, n), a, bp.get(), beta, c) }
    };
    if 2 * m * k * n >= PAR_FLOPS && m >= 64 {
        let half = (m / 2).div_ceil(16) * 16;
        assist::join(|| rows(0, half), || rows(half, m));
    } else {
        rows(0, m);
    }
    true
}

/// Whether the thin kernels run for `T` on this CPU.
pub(super) fn available<T: Float>() -> bool {
    kernel::<T>().is_some()
}

/// A kernel entry point: `(m, k, n)`, `A`, `B`, `beta`, `C`.
type Kernel<T> = unsafe fn((usize, usize, usize), Mat<T>, Mat<T>, T, MatMut<T>);

/// The kernel for `T` on this CPU, if any.
fn kernel<T: Float>() -> Option<Kernel<T>> {
    #[cfg(target_arch = "x86_64")]
    {
        use x86::*;
        // SAFETY: each pair is one entry point instantiated for f64 and for f32.
        return match level()? {
            Level::Avx512 => unsafe { pick::<T, Kernel<f64>, Kernel<f32>, _>(avx512_f64, avx512_f32) },
            Level::Avx2 => unsafe { pick::<T, Kernel<f64>, Kernel<f32>, _>(avx2_f64, avx2_f32) },
        };
    }
    #[allow(unreachable_code)]
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::lanes::x86::{F32x16, F32x8, F64x4, F64x8};
    use super::{portable, Kernel, Mat, MatMut};

    macro_rules! entry {
        ($name:ident, $lanes:ident, $e:ty, $feat:literal) => {
            /// # Safety
            /// As [`super::gemm`], on a CPU with the features named here.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(mkn: (usize, usize, usize), a: Mat<$e>, b: Mat<$e>, beta: $e, c: MatMut<$e>) {
                // SAFETY: the caller's operands; the features are enabled here, so the lane methods inline.
                unsafe { portable::<$lanes>(mkn, a, b, beta, c) }
            }
            const _: Kernel<$e> = $name;
        };
    }
    entry!(avx512_f64, F64x8, f64, "avx512f");
    entry!(avx512_f32, F32x16, f32, "avx512f");
    entry!(avx2_f64, F64x4, f64, "avx2,fma");
    entry!(avx2_f32, F32x8, f32, "avx2,fma");
}

/// Both kernels, for whichever of `A`'s strides is 1, sized to `V`'s lanes and registers.
///
/// # Safety
/// As [`gemm`], with `V`'s features available.
#[inline(always)]
unsafe fn portable<V: Lanes>(
    (m, k, n): (usize, usize, usize),
    a: Mat<V::E>,
    b: Mat<V::E>,
    beta: V::E,
    c: MatMut<V::E>,
) {
    // SAFETY (every arm): the caller's operands; `n <= MAX_N` was checked by `gemm`.
    unsafe {
        if a.2 == 1 {
            let wide = V::REGS >= 32;
            match (n.div_ceil(V::W), wide) {
                (1, _) => rows_contiguous::<V, 1, 8>((m, k, n), a, b, beta, c),
                (2, true) => rows_contiguous::<V, 2, 12>((m, k, n), a, b, beta, c),
                (2, false) => rows_contiguous::<V, 2, 6>((m, k, n), a, b, beta, c),
                (3, _) => rows_contiguous::<V, 3, 4>((m, k, n), a, b, beta, c),
                _ => rows_contiguous::<V, 4, 3>((m, k, n), a, b, beta, c),
            }
        } else {
            macro_rules! by_width {
                ($($w:literal)*) => {
                    match n {
                        $($w => columns_contiguous::<V, $w>((m, k), a, b, beta, c),)*
                        _ => unreachable!("n <= MAX_N was checked by gemm"),
                    }
                };
            }
            by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
        }
    }
}

/// Writes one computed value: `C = acc` when `beta = 0` (`C` may be uninitialised), else `acc + beta C`.
///
/// # Safety
/// `p` points into `C`.
#[inline(always)]
unsafe fn store<T: Float>(p: *mut T, acc: T, beta: T) {
    // SAFETY: `p` is an element of `C`; it is read only when `beta != 0`, when `C` is initialised.
    unsafe { *p = if beta == T::ZERO { acc } else { beta.mul_add(*p, acc) } }
}

/// Lanes of one kernel's vectors spilled for the scalar stores (at most 4 vectors of 16).
type Spill<T> = [T; 64];

/// `A` with contiguous rows (`a.2 == 1`): `B` in a `k x (NV W)` zero-padded panel, `R` rows of `C` per block.
///
/// # Safety
/// As [`gemm`], with `a.2 == 1`, `n <= NV W`, and `V`'s features available.
#[inline(always)]
unsafe fn rows_contiguous<V: Lanes, const NV: usize, const R: usize>(
    (m, k, n): (usize, usize, usize),
    (pa, rsa, _): Mat<V::E>,
    (pb, rsb, csb): Mat<V::E>,
    beta: V::E,
    c: MatMut<V::E>,
) {
    let width = NV * V::W;
    let mut panel = vec![V::E::ZERO; k * width];
    for (l, row) in panel.chunks_exact_mut(width).enumerate() {
        for (j, v) in row[..n].iter_mut().enumerate() {
            // SAFETY: `l < k`, `j < n`: an element of `B`.
            *v = unsafe { *pb.offset(l as isize * rsb + j as isize * csb) };
        }
    }
    let full = m / R * R;
    // SAFETY (both loops): row blocks inside `0..m`; the panel holds `k` rows of `width`.
    unsafe {
        for i in (0..full).step_by(R) {
            row_block::<V, NV, R>(i, (k, n), (pa, rsa), panel.as_ptr(), beta, c);
        }
        for i in full..m {
            row_block::<V, NV, 1>(i, (k, n), (pa, rsa), panel.as_ptr(), beta, c);
        }
    }
}

/// Rows `i..i + R` of `C` from rows of `A` and the padded panel of `B`.
///
/// # Safety
/// `i + R <= m`, the operands as [`rows_contiguous`].
#[inline(always)]
unsafe fn row_block<V: Lanes, const NV: usize, const R: usize>(
    i: usize,
    (k, n): (usize, usize),
    (pa, rsa): (*const V::E, isize),
    panel: *const V::E,
    beta: V::E,
    (pc, rsc, csc): MatMut<V::E>,
) {
    let width = NV * V::W;
    // SAFETY (whole body): rows `i..i + R` of `A` hold `k` elements each; the panel `k x width`;
    // `V`'s features are available (the caller's contract).
    unsafe {
        let zero = V::splat(V::E::ZERO);
        let mut acc = [[zero; NV]; R];
        let rows: [*const V::E; R] = std::array::from_fn(|r| pa.offset((i + r) as isize * rsa));
        for l in 0..k {
            let bl: [V; NV] = std::array::from_fn(|v| V::load(panel.add(l * width + v * V::W)));
            for r in 0..R {
                let x = V::splat(*rows[r].add(l));
                for v in 0..NV {
                    acc[r][v] = x.fma(bl[v], acc[r][v]);
                }
            }
        }
        let mut spill: Spill<V::E> = [V::E::ZERO; 64];
        for (r, row) in acc.iter().enumerate() {
            for (v, vec) in row.iter().enumerate() {
                vec.store(spill.as_mut_ptr().add(v * V::W));
            }
            for (j, &value) in spill[..n].iter().enumerate() {
                store(pc.offset((i + r) as isize * rsc + j as isize * csc), value, beta);
            }
        }
    }
}

/// `A` with contiguous columns (`a.1 == 1`): `W` rows of `C` are one vector, `N` accumulators; the last
/// `m mod W` rows are summed one by one.
///
/// # Safety
/// As [`gemm`], with `a.1 == 1`, `n == N`, and `V`'s features available.
#[inline(always)]
unsafe fn columns_contiguous<V: Lanes, const N: usize>(
    (m, k): (usize, usize),
    (pa, _, csa): Mat<V::E>,
    (pb, rsb, csb): Mat<V::E>,
    beta: V::E,
    (pc, rsc, csc): MatMut<V::E>,
) {
    // Two vectors of rows share each broadcast of `B[l, j]` where the registers allow (2 N + 2 of them).
    let pair = V::REGS >= 32 && 2 * N + 2 <= V::REGS;
    let step = if pair { 2 * V::W } else { V::W };
    let blocks = m / step * step;
    // SAFETY (whole body): rows `i..i + step <= m` of column `l < k` of `A` are contiguous; `l < k`,
    // `j < N = n` index `B`; rows `< m`, columns `< n` index `C`.
    unsafe {
        for i in (0..blocks).step_by(step) {
            if pair {
                column_block::<V, N, 2>(i, k, (pa, csa), (pb, rsb, csb), beta, (pc, rsc, csc));
            } else {
                column_block::<V, N, 1>(i, k, (pa, csa), (pb, rsb, csb), beta, (pc, rsc, csc));
            }
        }
        let full = m / V::W * V::W;
        for i in (blocks..full).step_by(V::W) {
            column_block::<V, N, 1>(i, k, (pa, csa), (pb, rsb, csb), beta, (pc, rsc, csc));
        }
        for i in full..m {
            for j in 0..N {
                let mut sum = V::E::ZERO;
                for l in 0..k {
                    let x = *pa.offset(l as isize * csa + i as isize);
                    sum = x.mul_add(*pb.offset(l as isize * rsb + j as isize * csb), sum);
                }
                store(pc.offset(i as isize * rsc + j as isize * csc), sum, beta);
            }
        }
    }
}

/// Rows `i..i + RV W` of `C` (`RV` vectors of rows), `N` columns, from columns of `A`.
///
/// # Safety
/// `i + RV W <= m`; the operands as [`columns_contiguous`].
#[inline(always)]
unsafe fn column_block<V: Lanes, const N: usize, const RV: usize>(
    i: usize,
    k: usize,
    (pa, csa): (*const V::E, isize),
    (pb, rsb, csb): Mat<V::E>,
    beta: V::E,
    (pc, rsc, csc): MatMut<V::E>,
) {
    // SAFETY (whole body): as the caller's contract states.
    unsafe {
        let zero = V::splat(V::E::ZERO);
        let mut acc = [[zero; RV]; N];
        for l in 0..k {
            let base = pa.offset(l as isize * csa + i as isize);
            let col: [V; RV] = std::array::from_fn(|v| V::load(base.add(v * V::W)));
            let bl = pb.offset(l as isize * rsb);
            for (j, lanes) in acc.iter_mut().enumerate() {
                let b = V::splat(*bl.offset(j as isize * csb));
                for v in 0..RV {
                    lanes[v] = col[v].fma(b, lanes[v]);
                }
            }
        }
        let mut spill: Spill<V::E> = [V::E::ZERO; 64];
        for (j, lanes) in acc.iter().enumerate() {
            for (v, vec) in lanes.iter().enumerate() {
                vec.store(spill.as_mut_ptr().add(v * V::W));
            }
            for (r, &value) in spill[..RV * V::W].iter().enumerate() {
                store(pc.offset((i + r) as isize * rsc + j as isize * csc), value, beta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lanes::testing::check_case;
    use super::*;

    /// Every kernel path (both `A` layouts, tail rows, each width, `beta` 0 and not, both split halves)
    /// against the naive triple loop, reading `C` back through its own strides.
    fn agrees_with_naive<T: Float>(tol: f64) {
        if kernel::<T>().is_none() {
            return;
        }
        let mut checked = 0;
        for (m, k) in [(1, 1), (7, 3), (8, 64), (9, 5), (23, 17), (300, 65), (1000, 300)] {
            for n in 1..=MAX_N {
                for a_rows in [true, false] {
                    for (b_rows, c_rows) in [(true, true), (false, false), (true, false)] {
                        for beta in [0.0, 0.5] {
                            if m == 1000 && (n % 5 != 0 || !b_rows) {
                                continue; // the threaded size: a few widths suffice
                            }
                            check_case::<T>(gemm::<T>, (m, k, n), (a_rows, b_rows, c_rows), beta, tol);
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn f64_products_agree_with_naive() {
        agrees_with_naive::<f64>(1e-13);
    }

    #[test]
    fn f32_products_agree_with_naive() {
        agrees_with_naive::<f32>(1e-5);
    }

    #[test]
    fn declines_wide_or_doubly_strided_operands() {
        let (a, b) = (vec![1.0f64; 40 * 40], vec![1.0f64; 40 * 40]);
        let mut c = vec![0.0f64; 40 * 40];
        // SAFETY: 40 x 40 matrices over 1600-element vectors (the doubly strided `A` reads every other
        // element of a 20 x 20 block).
        unsafe {
            assert!(!gemm((40, 40, 17), (a.as_ptr(), 40, 1), (b.as_ptr(), 17, 1), 0.0, (c.as_mut_ptr(), 17, 1)));
            assert!(!gemm((20, 20, 4), (a.as_ptr(), 80, 2), (b.as_ptr(), 4, 1), 0.0, (c.as_mut_ptr(), 4, 1)));
        }
        assert!(c.iter().all(|&v| v == 0.0), "a declined product wrote C");
    }
}
