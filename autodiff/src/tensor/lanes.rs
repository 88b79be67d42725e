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
        ($name:ident, $v:ty, $e:ty, $w:literal, $regs:literal, $feat:literal,
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
            }
        };
    }
    lanes!(F64x8, __m512d, f64, 8, 32, "avx512f", _mm512_set1_pd, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_storeu_pd);
    lanes!(F32x16, __m512, f32, 16, 32, "avx512f", _mm512_set1_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_storeu_ps);
    lanes!(F64x4, __m256d, f64, 4, 16, "avx2,fma", _mm256_set1_pd, _mm256_loadu_pd, _mm256_fmadd_pd, _mm256_storeu_pd);
    lanes!(F32x8, __m256, f32, 8, 16, "avx2,fma", _mm256_set1_ps, _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_storeu_ps);
}
