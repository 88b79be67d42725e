//! SIMD vectors for the matrix kernels: one small trait, [`Lanes`], instantiated for AVX-512F (8 f64 or
//! 16 f32 lanes) and AVX2 + FMA (4 or 8 lanes), and the run-time choice between them ([`level`], [`pick`]).
//! The thin kernels ([`super::thin`]) and the packed kernel ([`super::packed`]) are written once over it.

use std::any::TypeId;

use crate::Float;

/// A SIMD vector of `W` lanes of `E`: what the kernels need of it.
///
/// # Safety
/// Every method requires the CPU features of the implementing type; pointers must be valid for `W` lanes.
pub(super) trait Lanes: Copy {
    type E: Float;
    /// Lanes per vector.
    const W: usize;
    /// Vector registers of the instruction set (the kernels size their blocks to fit).
    const REGS: usize;
    unsafe fn splat(x: Self::E) -> Self;
    unsafe fn load(p: *const Self::E) -> Self;
    /// `self * b + c`, one rounding.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    unsafe fn store(self, p: *mut Self::E);
    /// Writes the 4 x 4 block whose row `j` is the 4 values from `src[j]` transposed:
    /// `dst[i * stride + j] = src[j][i]` (how the packed kernel copies rows of `A` into a panel).
    unsafe fn transpose4(src: [*const Self::E; 4], dst: *mut Self::E, stride: usize);
}

/// Asks the CPU to bring the cache line holding `p` into L1 (a hint: no effect on results, none at all off
/// x86-64). Any address may be given; nothing is read from it.
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing architecturally; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The widest vector instruction set this CPU offers the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    /// AVX-512F: 32 registers of 512 bits.
    Avx512,
    /// AVX2 with FMA: 16 registers of 256 bits.
    Avx2,
}

/// The CPU's [`Level`], or `None` without AVX2 + FMA (the kernels then fall back to `matrixmultiply`).
pub(super) fn level() -> Option<Level> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(Level::Avx512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some(Level::Avx2);
        }
    }
    None
}

/// `k64` when `T` is `f64`, `k32` when it is `f32`, as the type `K` of the caller's entry point for `T`.
///
/// # Safety
/// `K64` and `K32` must be `K` with `T` replaced by `f64` and `f32` (the same function-pointer type once
/// `T` is known).
pub(super) unsafe fn pick<T: Float, K64: Copy, K32: Copy, K: Copy>(k64: K64, k32: K32) -> Option<K> {
    // SAFETY: `T` is the type the chosen value was instantiated for (checked by `TypeId`), so by the
    // caller's contract the two types are the same type.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            Some(std::mem::transmute_copy::<K64, K>(&k64))
        } else if TypeId::of::<T>() == TypeId::of::<f32>() {
            Some(std::mem::transmute_copy::<K32, K>(&k32))
        } else {
            None
        }
    }
}

/// The vector types, one per element type and instruction set.
#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use std::arch::x86_64::*;

    use super::Lanes;

    macro_rules! lanes {
        ($name:ident, $v:ty, $e:ident, $w:literal, $regs:literal, $feat:literal,
         $set1:ident, $load:ident, $fma:ident, $store:ident) => {
            #[derive(Clone, Copy)]
            pub(in crate::tensor) struct $name($v);
            impl Lanes for $name {
                type E = $e;
                const W: usize = $w;
                const REGS: usize = $regs;
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn splat(x: $e) -> Self {
                    $name($set1(x))
                }
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn load(p: *const $e) -> Self {
                    // SAFETY: the caller's pointer is valid for `W` lanes.
                    $name(unsafe { $load(p) })
                }
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn fma(self, b: Self, c: Self) -> Self {
                    $name($fma(self.0, b.0, c.0))
                }
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn store(self, p: *mut $e) {
                    // SAFETY: the caller's pointer is valid for `W` lanes.
                    unsafe { $store(p, self.0) }
                }
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn transpose4(src: [*const $e; 4], dst: *mut $e, stride: usize) {
                    // SAFETY: the caller's rows hold 4 values each and `dst` 4 rows of `stride`.
                    unsafe { transpose::$e(src, dst, stride) }
                }
            }
        };
    }

    /// [`Lanes::transpose4`] for each element type.
    mod transpose {
        use std::arch::x86_64::*;

        /// `Lanes::transpose4` for `f64`: two unpacks and two lane permutes per pair of rows (AVX).
        #[inline]
        #[target_feature(enable = "avx")]
        pub(super) unsafe fn f64(src: [*const f64; 4], dst: *mut f64, stride: usize) {
            // SAFETY: as `Lanes::transpose4`.
            unsafe {
                let [a, b, c, d] = src.map(|p| _mm256_loadu_pd(p));
                let (ab0, ab1) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b)); // a0 b0 a2 b2, a1 b1 a3 b3
                let (cd0, cd1) = (_mm256_unpacklo_pd(c, d), _mm256_unpackhi_pd(c, d));
                _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(ab0, cd0));
                _mm256_storeu_pd(dst.add(stride), _mm256_permute2f128_pd::<0x20>(ab1, cd1));
                _mm256_storeu_pd(dst.add(2 * stride), _mm256_permute2f128_pd::<0x31>(ab0, cd0));
                _mm256_storeu_pd(dst.add(3 * stride), _mm256_permute2f128_pd::<0x31>(ab1, cd1));
            }
        }

        /// `Lanes::transpose4` for `f32`: SSE's `_MM_TRANSPOSE4_PS`.
        #[inline]
        #[target_feature(enable = "sse")]
        pub(super) unsafe fn f32(src: [*const f32; 4], dst: *mut f32, stride: usize) {
            // SAFETY: as `Lanes::transpose4`.
            unsafe {
                let [a, b, c, d] = src.map(|p| _mm_loadu_ps(p));
                let (ab0, ab1) = (_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b)); // a0 b0 a1 b1, a2 b2 a3 b3
                let (cd0, cd1) = (_mm_unpacklo_ps(c, d), _mm_unpackhi_ps(c, d));
                _mm_storeu_ps(dst, _mm_movelh_ps(ab0, cd0));
                _mm_storeu_ps(dst.add(stride), _mm_movehl_ps(cd0, ab0));
                _mm_storeu_ps(dst.add(2 * stride), _mm_movelh_ps(ab1, cd1));
                _mm_storeu_ps(dst.add(3 * stride), _mm_movehl_ps(cd1, ab1));
            }
        }
    }

    lanes!(F64x8, __m512d, f64, 8, 32, "avx512f", _mm512_set1_pd, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_storeu_pd);
    lanes!(F32x16, __m512, f32, 16, 32, "avx512f", _mm512_set1_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_storeu_ps);
    lanes!(F64x4, __m256d, f64, 4, 16, "avx2,fma", _mm256_set1_pd, _mm256_loadu_pd, _mm256_fmadd_pd, _mm256_storeu_pd);
    lanes!(F32x8, __m256, f32, 8, 16, "avx2,fma", _mm256_set1_ps, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_storeu_ps);
}

/// What the tests of both product kernels share.
#[cfg(test)]
pub(super) mod testing {
    use crate::Float;

    /// A product entry point, as `thin::gemm` and `packed::gemm`: `false` if it declined the product.
    pub(in crate::tensor) type Gemm<T> = unsafe fn(
        (usize, usize, usize),
        (*const T, isize, isize),
        (*const T, isize, isize),
        T,
        (*mut T, isize, isize),
    ) -> bool;

    /// Deterministic values in `[-0.5, 0.5)`.
    pub(in crate::tensor) fn values<T: Float>(len: usize, seed: usize) -> Vec<T> {
        (0..len).map(|i| T::from_f64(((i * 7919 + seed * 104729) % 101) as f64 / 101.0 - 0.5)).collect()
    }

    /// Runs `gemm` on one `m x k x n` product with the given layouts (`true`: row-major) and `beta`, and
    /// asserts that it took it and that every entry of `C`, read through its strides, is within
    /// `tol (1 + k)` of the naive sum in `f64`.
    pub(in crate::tensor) fn check_case<T: Float>(
        gemm: Gemm<T>,
        (m, k, n): (usize, usize, usize),
        (a_rows, b_rows, c_rows): (bool, bool, bool),
        beta: f64,
        tol: f64,
    ) {
        let (a, b) = (values::<T>(m * k, n), values::<T>(k * n, m));
        let c0 = values::<T>(m * n, k);
        let sa = if a_rows { (k as isize, 1) } else { (1, m as isize) };
        let sb = if b_rows { (n as isize, 1) } else { (1, k as isize) };
        let sc = if c_rows { (n as isize, 1) } else { (1, m as isize) };
        let at = |i: usize, l: usize| a[i * sa.0 as usize + l * sa.1 as usize];
        let bt = |l: usize, j: usize| b[l * sb.0 as usize + j * sb.1 as usize];
        let mut c = c0.clone();
        let beta = T::from_f64(beta);
        // SAFETY: the strides describe the vectors' own matrices.
        let done = unsafe {
            gemm((m, k, n), (a.as_ptr(), sa.0, sa.1), (b.as_ptr(), sb.0, sb.1), beta, (c.as_mut_ptr(), sc.0, sc.1))
        };
        assert!(done, "({m},{k},{n}) not taken");
        for i in 0..m {
            for j in 0..n {
                let at_c = i * sc.0 as usize + j * sc.1 as usize;
                let dot: f64 = (0..k).map(|l| (at(i, l) * bt(l, j)).to_f64()).sum();
                let want = dot + beta.to_f64() * c0[at_c].to_f64();
                let got = c[at_c].to_f64();
                assert!(
                    (got - want).abs() <= tol * (1.0 + k as f64),
                    "({m},{k},{n}) a_rows {a_rows} b_rows {b_rows} c_rows {c_rows} beta {beta:?} at ({i},{j}): \
                     {got} vs {want}"
                );
            }
        }
    }
}
