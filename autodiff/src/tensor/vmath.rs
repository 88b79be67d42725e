//! Vectorised `exp` and `tanh` for f64 and f32 (`tanh` is built on `exp`; see [`tanh_f64`]).
//!
//! libm's `exp` is a scalar call per element (50 µs for 18k f64 values here); softmax, log-sum-exp and
//! the cross-entropy losses spend their forward pass in it. This is the textbook algorithm, written so
//! the compiler vectorises the loop (no calls, no branches; integers are read from float bits, never
//! converted, so AVX2 needs no 64-bit conversions it lacks):
//!
//! 1. `k = round(x / ln 2)`, `r = x - k ln 2` with `ln 2` split in two (Cody-Waite: `k ln2_hi` is exact),
//!    so `|r| <= ln 2 / 2`;
//! 2. `e^r` by its Taylor polynomial in Horner form with fused multiply-adds, of degree 13 for f64
//!    (truncation error `0.35^14 / 14! < 5e-18`) and 7 for f32 (`0.35^8 / 8! < 6e-9`);
//! 3. `e^x = e^r 2^k`, with `2^k` built from its exponent bits as `2^(k/2) 2^(k - k/2)`, so that `k` down
//!    to `-1075` (subnormal results) and up to `1024` (overflow to infinity) scale with one rounding.
//!
//! `x` is clamped first to the range where the result is neither 0 nor infinity, so `+inf -> inf`,
//! `-inf -> 0`, and NaN stays NaN. Error: within 1 ulp of the correctly rounded result on the tested
//! range (see the tests; libm's is below 1 ulp too).

use std::any::TypeId;

use crate::Float;

/// `out[i] = e^x[i]`. `out` and `x` have the same length.
pub(crate) fn exp<T: Float>(x: &[T], out: &mut [std::mem::MaybeUninit<T>]) {
    apply(x, out, exp_f64, exp_f32, T::exp);
}

/// `out[i] = tanh x[i]`. `out` and `x` have the same length.
pub(crate) fn tanh<T: Float>(x: &[T], out: &mut [std::mem::MaybeUninit<T>]) {
    apply(x, out, tanh_f64, tanh_f32, T::tanh);
}

/// Runs the f64 or f32 element function, vectorised, or `other` for any other `Float`.
#[inline(always)]
fn apply<T: Float>(
    x: &[T],
    out: &mut [std::mem::MaybeUninit<T>],
    f64s: impl Fn(f64) -> f64 + Copy,
    f32s: impl Fn(f32) -> f32 + Copy,
    other: impl Fn(T) -> T,
) {
    debug_assert_eq!(x.len(), out.len());
    let t = TypeId::of::<T>();
    // SAFETY (both casts): `T` is the type cast to (compared by `TypeId`), so these are casts of slices
    // to their own element type.
    if t == TypeId::of::<f64>() {
        let (x, out) = unsafe { (cast::<T, f64>(x), cast_mut::<T, f64>(out)) };
        vectorised(x, out, f64s);
    } else if t == TypeId::of::<f32>() {
        let (x, out) = unsafe { (cast::<T, f32>(x), cast_mut::<T, f32>(out)) };
        vectorised(x, out, f32s);
    } else {
        out.iter_mut().zip(x).for_each(|(o, &v)| {
            o.write(other(v));
        });
    }
}

/// # Safety
/// `T` and `U` are the same type.
unsafe fn cast<T, U>(x: &[T]) -> &[U] {
    // SAFETY: the caller's: same type, so same layout and length.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

/// # Safety
/// `T` and `U` are the same type.
unsafe fn cast_mut<T, U>(x: &mut [std::mem::MaybeUninit<T>]) -> &mut [std::mem::MaybeUninit<U>] {
    // SAFETY: the caller's: same type, so same layout and length.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) }
}

/// Runs the element function over the slices, compiled for the widest vectors this CPU has. `f` is a
/// generic parameter, not a function pointer, so it is inlined into the vectorised loop.
fn vectorised<E: Copy, F: Fn(E) -> E + Copy>(x: &[E], out: &mut [std::mem::MaybeUninit<E>], f: F) {
    #[inline(always)]
    fn body<E: Copy, F: Fn(E) -> E>(x: &[E], out: &mut [std::mem::MaybeUninit<E>], f: F) {
        out.iter_mut().zip(x).for_each(|(o, &v)| {
            o.write(f(v));
        });
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn avx512<E: Copy, F: Fn(E) -> E>(x: &[E], out: &mut [std::mem::MaybeUninit<E>], f: F) {
            body(x, out, f)
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<E: Copy, F: Fn(E) -> E>(x: &[E], out: &mut [std::mem::MaybeUninit<E>], f: F) {
            body(x, out, f)
        }
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the features were detected on this CPU.
            return unsafe { avx512(x, out, f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { avx2(x, out, f) };
        }
    }
    body(x, out, f)
}

/// `e^x` in f64 (see the module docs).
#[inline(always)]
pub(crate) fn exp_f64(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 32 trailing zero bits (fdlibm's split): k LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-01
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
                                                               // 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-746.0, 710.0);
    let kf = (x * LOG2E + SHIFTER) - SHIFTER;
    let r = (-kf).mul_add(LN2_HI, x);
    let r = (-kf).mul_add(LN2_LO, r);
    // Taylor coefficients 1/i!, i = 13 down to 0.
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p.mul_add(r, c);
    }
    // 2^k as 2^k1 2^k2, k1 = floor(k / 2), both normal for k in [-1076, 1025].
    let k1 = (kf * 0.5).floor();
    let pow2 =
        |k: f64| f64::from_bits((k + SHIFTER).to_bits().wrapping_sub(SHIFTER.to_bits()).wrapping_add(1023) << 52);
    p * pow2(k1) * pow2(kf - k1)
}

/// `e^x` in f32 (see the module docs).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO with LN2_HI exact in 9 significant bits (Cephes' split).
    const LN2_HI: f32 = f32::from_bits(0x3f31_8000); // 0.693359375
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-104.0, 89.0);
    let kf = (x * LOG2E + SHIFTER) - SHIFTER;
    let r = (-kf).mul_add(LN2_HI, x);
    let r = (-kf).mul_add(LN2_LO, r);
    let mut p = 1.0 / 5_040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p.mul_add(r, c);
    }
    let k1 = (kf * 0.5).floor();
    let pow2 = |k: f32| f32::from_bits((k + SHIFTER).to_bits().wrapping_sub(SHIFTER.to_bits()).wrapping_add(127) << 23);
    p * pow2(k1) * pow2(kf - k1)
}

/// `tanh x = sign(x) m / (m + 2)` with `m = e^(2|x|) - 1`: `m` by its Taylor polynomial (degree 17) for
/// `2|x| < 0.6`, where `e^y - 1` would cancel, and from [`exp_f64`] above; `|x|` is clamped to 20, where
/// `tanh` is 1 to double precision, so `e^y` never overflows. Within 3 ulp of libm (tested; libm is within 1).
#[inline(always)]
pub(crate) fn tanh_f64(x: f64) -> f64 {
    let y = 2.0 * x.abs().clamp(0.0, 20.0);
    // (e^y - 1) / y = sum y^i / (i + 1)!, i = 16 down to 0.
    let mut p = 1.0 / 355_687_428_096_000.0;
    for c in [
        1.0 / 20_922_789_888_000.0,
        1.0 / 1_307_674_368_000.0,
        1.0 / 87_178_291_200.0,
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ] {
        p = p.mul_add(y, c);
    }
    let small = p * y;
    let m = if y < 0.6 { small } else { exp_f64(y) - 1.0 };
    (m / (m + 2.0)).copysign(x)
}

/// [`tanh_f64`] in f32: degree 11 below `2|x| = 0.6`, `|x|` clamped to 10.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let y = 2.0 * x.abs().clamp(0.0, 10.0);
    let mut p = 1.0 / 39_916_800.0;
    for c in [
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ] {
        p = p.mul_add(y, c);
    }
    let small = p * y;
    let m = if y < 0.6 { small } else { exp_f32(y) - 1.0 };
    (m / (m + 2.0)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place, through the ordered integer representation.
    fn ulps64(a: f64, b: f64) -> u64 {
        let key = |v: f64| {
            let b = v.to_bits() as i64;
            if b < 0 {
                i64::MIN - b
            } else {
                b
            }
        };
        key(a).abs_diff(key(b))
    }

    fn ulps32(a: f32, b: f32) -> u32 {
        let key = |v: f32| {
            let b = v.to_bits() as i32;
            if b < 0 {
                i32::MIN - b
            } else {
                b
            }
        };
        key(a).abs_diff(key(b))
    }

    fn run<T: Float>(xs: &[T]) -> Vec<T> {
        let mut out = Vec::with_capacity(xs.len());
        exp(xs, &mut out.spare_capacity_mut()[..xs.len()]);
        // SAFETY: `exp` wrote every element.
        unsafe { out.set_len(xs.len()) };
        out
    }

    #[test]
    fn f64_within_one_ulp_of_libm_over_the_whole_range() {
        let n = 200_001;
        let xs: Vec<f64> = (0..n).map(|i| -745.0 + 1455.0 * i as f64 / (n - 1) as f64).collect();
        let mut near: Vec<f64> = (0..20_001).map(|i| -1.0 + 2.0 * i as f64 / 20_000.0).collect();
        near.extend([0.0, -0.0, 1e-300, -1e-300, 0.5 * std::f64::consts::LN_2, 709.78, -708.4, -744.4]);
        for xs in [xs, near] {
            let got = run(&xs);
            let worst = xs.iter().zip(&got).map(|(&x, &y)| (ulps64(y, x.exp()), x)).max_by_key(|p| p.0).unwrap();
            assert!(worst.0 <= 1, "exp({}) is {} ulp from libm", worst.1, worst.0);
        }
    }

    #[test]
    fn f32_within_one_ulp_of_the_f64_result_rounded() {
        let n = 100_001;
        let xs: Vec<f32> = (0..n).map(|i| -103.0 + 191.0 * i as f32 / (n - 1) as f32).collect();
        let got = run(&xs);
        let worst =
            xs.iter().zip(&got).map(|(&x, &y)| (ulps32(y, (x as f64).exp() as f32), x)).max_by_key(|p| p.0).unwrap();
        assert!(worst.0 <= 1, "exp({}) is {} ulp off", worst.1, worst.0);
    }

    fn run_tanh<T: Float>(xs: &[T]) -> Vec<T> {
        let mut out = Vec::with_capacity(xs.len());
        tanh(xs, &mut out.spare_capacity_mut()[..xs.len()]);
        // SAFETY: `tanh` wrote every element.
        unsafe { out.set_len(xs.len()) };
        out
    }

    #[test]
    fn tanh_within_three_ulp_of_libm() {
        let mut xs: Vec<f64> = (0..200_001).map(|i| -25.0 + 50.0 * i as f64 / 200_000.0).collect();
        xs.extend((0..20_001).map(|i| -0.5 + i as f64 / 20_000.0));
        xs.extend([0.0, -0.0, 1e-300, -1e-300, 1e-9, 0.3, 0.30000000000000004, 0.29999999999999993, 700.0]);
        let got = run_tanh(&xs);
        let worst = xs.iter().zip(&got).map(|(&x, &y)| (ulps64(y, x.tanh()), x)).max_by_key(|p| p.0).unwrap();
        assert!(worst.0 <= 3, "tanh({}) is {} ulp from libm", worst.1, worst.0);
        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let got = run_tanh(&xs32);
        let worst =
            xs32.iter().zip(&got).map(|(&x, &y)| (ulps32(y, (x as f64).tanh() as f32), x)).max_by_key(|p| p.0).unwrap();
        assert!(worst.0 <= 3, "tanh({}) is {} ulp off in f32", worst.1, worst.0);
        let special = run_tanh(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0]);
        assert_eq!((special[0], special[1]), (1.0, -1.0));
        assert!(special[2].is_nan() && special[3] == 0.0 && special[3].is_sign_negative());
    }

    #[test]
    fn special_values() {
        let xs = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 710.0, 1e308, -746.0, -1e308, 0.0];
        let got = run(&xs);
        assert_eq!(got[0], f64::INFINITY);
        assert_eq!(got[1], 0.0);
        assert!(got[2].is_nan());
        assert_eq!(got[3], f64::INFINITY);
        assert_eq!(got[4], f64::INFINITY);
        assert_eq!(got[5], 0.0);
        assert_eq!(got[6], 0.0);
        assert_eq!(got[7], 1.0);
        let xs = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 89.0, -104.0, 0.0];
        let got = run(&xs);
        assert_eq!((got[0], got[1], got[3], got[4], got[5]), (f32::INFINITY, 0.0, f32::INFINITY, 0.0, 1.0));
        assert!(got[2].is_nan());
    }
}
