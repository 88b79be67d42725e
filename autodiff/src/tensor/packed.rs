//! Packed matrix products, `C = op(A) op(B) + beta C`, for every shape the thin kernels do not take.
//!
//! The classic blocked algorithm (Goto and van de Geijn, "Anatomy of high-performance matrix
//! multiplication", 2008, as BLIS and `matrixmultiply` lay it out): `B` is copied `KC` rows at a time into
//! panels of `NR` columns, `A` block by block into panels of `MR` rows, and an `MR x NR` register tile of
//! `C` is accumulated from one panel of each (`MR` broadcasts and `MR NR / W` fused multiply-adds per
//! step of depth). Written once over [`Lanes`] with `MR = 6`, `NR = 2 W` on AVX2 (12 accumulators of 16
//! registers) and `MR = 12`, `NR = 2 W` on AVX-512.
//!
//! Why not `matrixmultiply`, which does the same: a profile of the tanh-MLP HVP had ~30% of its time in
//! page faults and `sched_yield`, not arithmetic. `matrixmultiply` allocates its packing buffers on every
//! call (a few hundred KiB, around glibc's `mmap` threshold, so freed and faulted back in), and its thread
//! pool's workers wait for work by yielding. Here the packing memory is one buffer per thread, kept
//! between products, and a product of [`PAR_FLOPS`] or more is cut in two halves (whole panels of rows
//! or of columns, whichever leaves the smaller operand to be packed twice), the second half for the
//! spinning assistant thread ([`super::assist`]). Results do not depend on which thread ran a half.

use std::cell::Cell;

use super::assist::{self, Shared};
use super::lanes::{level, pick, prefetch, Lanes, Level};
use crate::Float;

/// Products with at least this many flops are split in two halves, one for the assistant thread.
pub(super) const PAR_FLOPS: usize = 1 << 21;
/// Depth of a packed block: `KC` steps of the micro-kernel between two passes over `C`.
const KC: usize = 256;
/// Bytes of one packed block of `A` (`MC x KC`), sized to stay in the L2 cache beside the panels of `B`.
const A_BLOCK_BYTES: usize = 144 * KC * 4;
/// Bytes of one packed block of `B` (`KC x NC`), sized for the L3 cache.
const B_BLOCK_BYTES: usize = 2 << 20;

/// A matrix operand: pointer, row stride, column stride.
type Mat<T> = (*const T, isize, isize);
/// The output operand.
type MatMut<T> = (*mut T, isize, isize);
/// A kernel entry point: `(m, k, n)`, `A`, `B`, `beta`, `C`, single-threaded.
type Kernel<T> = unsafe fn((usize, usize, usize), Mat<T>, Mat<T>, T, MatMut<T>);

/// The entry point for `T` on this CPU and its tile `(MR, NR)`.
struct Tile<T> {
    kernel: Kernel<T>,
    mr: usize,
    nr: usize,
}

fn tile<T: Float>() -> Option<Tile<T>> {
    #[cfg(target_arch = "x86_64")]
    {
        use x86::*;
        let wide = size_of::<T>() == 4;
        // SAFETY: each pair is one entry point instantiated for f64 and for f32.
        return match level()? {
            Level::Avx512 => Some(Tile {
                kernel: unsafe { pick::<T, Kernel<f64>, Kernel<f32>, _>(avx512_f64, avx512_f32)? },
                mr: 12,
                nr: if wide { 32 } else { 16 },
            }),
            Level::Avx2 => Some(Tile {
                kernel: unsafe { pick::<T, Kernel<f64>, Kernel<f32>, _>(avx2_f64, avx2_f32)? },
                mr: 6,
                nr: if wide { 16 } else { 8 },
            }),
        };
    }
    #[allow(unreachable_code)]
    None
}

/// `C = op(A) op(B) + beta C` for an `m x k` `A` and `k x n` `B` with any strides, when the CPU has AVX2 +
/// FMA or AVX-512F and no dimension is zero. Returns `false`, having done nothing, otherwise.
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
    if m == 0 || k == 0 || n == 0 {
        return false;
    }
    let Some(Tile { kernel, mr, nr }) = tile::<T>() else { return false };
    let (ap, bp, cp) = (Shared(a), Shared(b), Shared(c));
    // SAFETY (every call below): sub-matrices of the caller's valid operands, offset by whole rows or
    // columns within their bounds; the two halves write disjoint parts of `C`. `kernel` was chosen for
    // this CPU's features.
    if 2 * m * k * n >= PAR_FLOPS {
        // Splitting the rows packs `B` twice, splitting the columns packs `A` twice: pack the smaller twice.
        if m * k >= k * n && m > mr {
            let h = m.div_ceil(mr).div_ceil(2) * mr;
            let second = move || {
                let (a, c) = (ap.get(), cp.get());
                let (a, c) = (
                    (a.0.wrapping_offset(h as isize * a.1), a.1, a.2),
                    (c.0.wrapping_offset(h as isize * c.1), c.1, c.2),
                );
                unsafe { kernel((m - h, k, n), a, bp.get(), beta, c) }
            };
            assist::join(|| unsafe { kernel((h, k, n), a, b, beta, c) }, second);
            return true;
        }
        if n > nr {
            let h = n.div_ceil(nr).div_ceil(2) * nr;
            let second = move || {
                let (b, c) = (bp.get(), cp.get());
                let (b, c) = (
                    (b.0.wrapping_offset(h as isize * b.2), b.1, b.2),
                    (c.0.wrapping_offset(h as isize * c.2), c.1, c.2),
                );
                unsafe { kernel((m, k, n - h), ap.get(), b, beta, c) }
            };
            assist::join(|| unsafe { kernel((m, k, h), a, b, beta, c) }, second);
            return true;
        }
    }
    unsafe { kernel((m, k, n), a, b, beta, c) };
    true
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::lanes::x86::{F32x16, F32x8, F64x4, F64x8};
    use super::{blocked, Kernel, Mat, MatMut};

    macro_rules! entry {
        ($name:ident, $lanes:ident, $e:ty, $feat:literal, $mr:literal) => {
            /// # Safety
            /// As [`super::gemm`], on a CPU with the features named here.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(mkn: (usize, usize, usize), a: Mat<$e>, b: Mat<$e>, beta: $e, c: MatMut<$e>) {
                // SAFETY: the caller's operands; the features are enabled here, so the lane methods inline.
                unsafe { blocked::<$lanes, $mr, 2>(mkn, a, b, beta, c) }
            }
            const _: Kernel<$e> = $name;
        };
    }
    entry!(avx512_f64, F64x8, f64, "avx512f", 12);
    entry!(avx512_f32, F32x16, f32, "avx512f", 12);
    entry!(avx2_f64, F64x4, f64, "avx2,fma", 6);
    entry!(avx2_f32, F32x8, f32, "avx2,fma", 6);
}

/// 64 bytes, the alignment of the packing buffer.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    /// This thread's packing memory, kept between products (taken out while a product runs, so a nested
    /// use, which does not happen today, would allocate its own instead of aliasing it).
    static PACKING: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// The blocked product on one thread: blocks of `NC` columns, `KC` depths and `MC` rows, `MR x NR` tiles.
///
/// # Safety
/// As [`gemm`], with `V`'s features available.
#[inline(always)]
unsafe fn blocked<V: Lanes, const MR: usize, const NV: usize>(
    (m, k, n): (usize, usize, usize),
    a: Mat<V::E>,
    b: Mat<V::E>,
    beta: V::E,
    (pc, rsc, csc): MatMut<V::E>,
) {
    let nr = NV * V::W;
    let size = size_of::<V::E>();
    let mc = (A_BLOCK_BYTES / (KC * size) / MR * MR).min(m.div_ceil(MR) * MR);
    let nc = (B_BLOCK_BYTES / (KC * size) / nr * nr).min(n.div_ceil(nr) * nr);
    // Equal depths per pass (784 = 4 x 196, not 3 x 256 + 16: a short last pass costs a whole pass over `C`).
    let kc = k.div_ceil(k.div_ceil(KC));
    let (a_len, b_len) = (mc * kc, kc * nc);
    let mut buffer = PACKING.with(Cell::take);
    let lines = ((a_len + b_len) * size).div_ceil(64);
    if buffer.len() < lines {
        buffer.resize(lines, Line([0; 64]));
    }
    let pa: *mut V::E = buffer.as_mut_ptr().cast();
    // SAFETY: `a_len` elements of `V::E` fit in the buffer, 64-byte aligned; `b_len` follow them.
    let pb = unsafe { pa.add(a_len) };
    for jc in (0..n).step_by(nc) {
        let ncur = nc.min(n - jc);
        for p0 in (0..k).step_by(kc) {
            let kcur = kc.min(k - p0);
            // The first pass over `C` applies the caller's `beta`, the later ones accumulate.
            let beta = if p0 == 0 { beta } else { V::E::ONE };
            // SAFETY (whole block): the blocks lie inside the operands (`jc < n`, `p0 < k`, `ic < m` and the
            // `cur` extents clipped to them); the packed panels fit the buffer (`ncur <= nc`, `kcur <= kc`,
            // `mcur <= mc`, each rounded up to whole panels, which `mc` and `nc` already are).
            unsafe {
                let b0 = (b.0.offset(p0 as isize * b.1 + jc as isize * b.2), b.1, b.2);
                pack::<V>(kcur, ncur, nr, (b0.0, b0.2, b0.1), pb);
                for ic in (0..m).step_by(mc) {
                    let mcur = mc.min(m - ic);
                    let a0 = (a.0.offset(ic as isize * a.1 + p0 as isize * a.2), a.1, a.2);
                    pack::<V>(kcur, mcur, MR, a0, pa);
                    for jr in (0..ncur).step_by(nr) {
                        for ir in (0..mcur).step_by(MR) {
                            let c = pc.offset((ic + ir) as isize * rsc + (jc + jr) as isize * csc);
                            let edge = (MR.min(mcur - ir), nr.min(ncur - jr));
                            tile_kernel::<V, MR, NV>(
                                kcur,
                                pa.add(ir * kcur),
                                pb.add(jr * kcur),
                                beta,
                                (c, rsc, csc),
                                edge,
                            );
                        }
                    }
                }
            }
        }
    }
    PACKING.with(|cell| cell.set(buffer));
}

/// Copies the `len x depth` block `x` (element `(i, l)` at `x.0 + i x.1 + l x.2`) into panels of `width`
/// entries of `i`: panel `q` holds, for each `l`, `x[q width + r, l]` for `r < width`, zero past `len`.
///
/// # Safety
/// `x` describes a valid `len x depth` block; `dst` is valid for `depth * ceil(len / width) * width` writes.
#[inline(always)]
unsafe fn pack<V: Lanes>(depth: usize, len: usize, width: usize, (x, si, sl): Mat<V::E>, dst: *mut V::E) {
    // SAFETY (whole body): the indices stay inside the block and the panels, as the contract states.
    unsafe {
        for (q, i0) in (0..len).step_by(width).enumerate() {
            let panel = dst.add(q * width * depth);
            let w = width.min(len - i0);
            if si == 1 && w == width && width.is_multiple_of(V::W) {
                // Whole vectors (the panels of `B` of a row-major `B`): copied a vector at a time.
                for l in 0..depth {
                    let src = x.offset(i0 as isize + l as isize * sl);
                    let row = panel.add(l * width);
                    for v in (0..width).step_by(V::W) {
                        V::load(src.add(v)).store(row.add(v));
                    }
                }
            } else if si == 1 {
                for l in 0..depth {
                    let src = x.offset(i0 as isize + l as isize * sl);
                    let row = panel.add(l * width);
                    // Four values at a time (the panels of a transposed `A`: 12 or 6 wide, not whole vectors).
                    let mut r = 0;
                    while r + 4 <= w {
                        row.add(r).cast::<[V::E; 4]>().write_unaligned(src.add(r).cast::<[V::E; 4]>().read_unaligned());
                        r += 4;
                    }
                    for r in r..w {
                        *row.add(r) = *src.add(r);
                    }
                    for r in w..width {
                        *row.add(r) = V::E::ZERO;
                    }
                }
            } else if sl == 1 {
                // Rows strided, depths contiguous (a row-major `A`, the transpose of a row-major `B`): 4 x 4
                // blocks transposed in registers. The plain loop below becomes one scatter per 8 values, which
                // had ~18% of a product's time on AMD Zen 5 (X W^T packs both operands this way).
                let mut r = 0;
                while r + 4 <= w {
                    let rows: [*const V::E; 4] = std::array::from_fn(|j| x.offset((i0 + r + j) as isize * si));
                    let mut l = 0;
                    while l + 4 <= depth {
                        V::transpose4(rows.map(|p| p.add(l)), panel.add(l * width + r), width);
                        l += 4;
                    }
                    for l in l..depth {
                        for (j, row) in rows.iter().enumerate() {
                            *panel.add(l * width + r + j) = *row.add(l);
                        }
                    }
                    r += 4;
                }
                for r in r..w {
                    let src = x.offset((i0 + r) as isize * si);
                    for l in 0..depth {
                        *panel.add(l * width + r) = *src.add(l);
                    }
                }
                for r in w..width {
                    for l in 0..depth {
                        *panel.add(l * width + r) = V::E::ZERO;
                    }
                }
            } else {
                for r in 0..w {
                    let src = x.offset((i0 + r) as isize * si);
                    for l in 0..depth {
                        *panel.add(l * width + r) = *src.offset(l as isize * sl);
                    }
                }
                for r in w..width {
                    for l in 0..depth {
                        *panel.add(l * width + r) = V::E::ZERO;
                    }
                }
            }
        }
    }
}

/// One `MR x NR` tile of `C` (of which the `rows x cols` corner is stored) from a packed panel of `A`
/// (`MR` values per step) and of `B` (`NR = NV W` values per step), over `depth` steps.
///
/// # Safety
/// `a` holds `depth * MR` and `b` `depth * NR` values; the `rows x cols` corner of `c` lies in `C`, which
/// is initialised unless `beta = 0`; `V`'s features are available.
#[inline(always)]
unsafe fn tile_kernel<V: Lanes, const MR: usize, const NV: usize>(
    depth: usize,
    a: *const V::E,
    b: *const V::E,
    beta: V::E,
    (c, rsc, csc): MatMut<V::E>,
    (rows, cols): (usize, usize),
) {
    // SAFETY (whole body): as the contract states.
    unsafe {
        // The tile of `C` is read (or written) after the loop: start fetching it now, as its last visit was a
        // whole block of `C` ago.
        for r in 0..rows {
            let row = c.offset(r as isize * rsc);
            prefetch(row);
            prefetch(row.offset((NV * V::W - 1) as isize * csc));
        }
        let zero = V::splat(V::E::ZERO);
        let mut acc = [[zero; NV]; MR];
        for l in 0..depth {
            let bl: [V; NV] = std::array::from_fn(|v| V::load(b.add((l * NV + v) * V::W)));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = V::splat(*a.add(l * MR + r));
                for v in 0..NV {
                    row[v] = x.fma(bl[v], row[v]);
                }
            }
        }
        if rows == MR && cols == NV * V::W && csc == 1 {
            // `acc + beta C` with one rounding, as the scalar path below.
            let scale = V::splat(beta);
            for (r, row) in acc.iter().enumerate() {
                for (v, lanes) in row.iter().enumerate() {
                    let p = c.offset(r as isize * rsc).add(v * V::W);
                    let out = if beta == V::E::ZERO { *lanes } else { V::load(p).fma(scale, *lanes) };
                    out.store(p);
                }
            }
            return;
        }
        let mut spill = [V::E::ZERO; 64];
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (v, lanes) in row.iter().enumerate() {
                lanes.store(spill.as_mut_ptr().add(v * V::W));
            }
            for (j, &value) in spill[..cols].iter().enumerate() {
                let p = c.offset(r as isize * rsc + j as isize * csc);
                *p = if beta == V::E::ZERO { value } else { beta.mul_add(*p, value) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lanes::testing::{check_case, values};
    use super::*;

    /// Every path (operand layouts, edge tiles in rows, columns and depth, several blocks of each, `beta` 0
    /// and not, both ways of splitting) against the naive triple loop, reading `C` through its strides.
    fn agrees_with_naive<T: Float>(tol: f64) {
        if tile::<T>().is_none() {
            return;
        }
        let mut checked = 0;
        for mkn in [(1, 1, 1), (7, 3, 17), (13, 300, 9), (40, 530, 35), (300, 70, 2100), (700, 260, 90)] {
            for a_rows in [true, false] {
                for (b_rows, c_rows) in [(true, true), (false, true), (true, false)] {
                    for beta in [0.0, 0.5] {
                        check_case::<T>(gemm::<T>, mkn, (a_rows, b_rows, c_rows), beta, tol);
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 72);
    }

    /// `pack` against its definition for every lane type this CPU runs (so the AVX2 types are checked on an
    /// AVX-512 machine too), every source layout, and blocks whose rows and depths are not multiples of 4
    /// (the remainders of the transposing path) with a short last panel (zero-filled).
    #[test]
    fn packing_matches_its_definition() {
        fn check<V: Lanes>() {
            let (depth, len) = (11, 23);
            let x = values::<V::E>(3 * depth * len, 5);
            for width in [6, 12, 2 * V::W] {
                for (si, sl) in [(1, len), (depth, 1), (2 * depth + 1, 2)] {
                    let mut dst = vec![V::E::ONE; len.div_ceil(width) * width * depth];
                    // SAFETY: `x` holds the block for each layout; `dst` holds its panels.
                    unsafe { pack::<V>(depth, len, width, (x.as_ptr(), si as isize, sl as isize), dst.as_mut_ptr()) };
                    for (at, &got) in dst.iter().enumerate() {
                        let (q, l, r) = (at / (width * depth), at / width % depth, at % width);
                        let i = q * width + r;
                        let want = if i < len { x[i * si + l * sl] } else { V::E::ZERO };
                        assert_eq!(got, want, "width {width}, strides ({si}, {sl}), panel {q}, depth {l}, row {r}");
                    }
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::lanes::x86::{F32x16, F32x8, F64x4, F64x8};
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                check::<F32x8>();
                check::<F64x4>();
            }
            if is_x86_feature_detected!("avx512f") {
                check::<F32x16>();
                check::<F64x8>();
            }
        }
    }

    #[test]
    fn f64_products_agree_with_naive() {
        agrees_with_naive::<f64>(1e-14);
    }

    #[test]
    fn f32_products_agree_with_naive() {
        agrees_with_naive::<f32>(1e-6);
    }

    #[test]
    fn a_product_is_the_same_with_and_without_the_assistant() {
        let (m, k, n) = (200, 300, 150);
        let (a, b) = (values::<f32>(m * k, 1), values::<f32>(k * n, 2));
        let run = || {
            let mut c = vec![0.0f32; m * n];
            // SAFETY: row-major matrices over the vectors.
            unsafe {
                gemm(
                    (m, k, n),
                    (a.as_ptr(), k as isize, 1),
                    (b.as_ptr(), n as isize, 1),
                    0.0,
                    (c.as_mut_ptr(), n as isize, 1),
                )
            };
            c
        };
        let with = run();
        assist::set_assist_thread(false);
        let without = run();
        assist::set_assist_thread(true);
        assert!(with == without, "results depend on the thread that ran a half");
    }
}
