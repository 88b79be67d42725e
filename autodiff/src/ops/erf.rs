//! `erf(x) = 2 / sqrt(pi) int_0^x e^(-t^2) dt`, the error function (exact GELU is `x (1 + erf(x / sqrt 2)) / 2`).
//!
//! Rule: `dx = g 2 / sqrt(pi) e^(-x^2)`.
//!
//! Values in f64 (f32 rounds the f64 result): for `|x| < 2.5` the series
//! `erf x = 2 / sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1))` (Abramowitz & Stegun 7.1.6), whose
//! terms are all positive, so nothing cancels; above, `erf x = 1 - erfc x` with the continued fraction
//! `erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))` (A&S 7.1.14), evaluated
//! by the modified Lentz method. Both are accurate to a few ulp.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// `erf(x)` in f64.
fn erf(x: f64) -> f64 {
    let a = x.abs();
    if a.is_nan() {
        return x;
    }
    let r = if a < 2.5 {
        let x2 = a * a;
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        FRAC_2_SQRT_PI * (-x2).exp() * sum
    } else if a < 6.0 {
        1.0 - erfc_continued_fraction(a)
    } else {
        1.0
    };
    r.copysign(x)
}

/// `erfc(a)` for `a >= 2.5`: the continued fraction `b0 + a1 / (b1 + a2 / (b2 + ...))` with `b_k = a`,
/// `a_k = k / 2`, by the modified Lentz method; then `erfc = e^(-a^2) / sqrt(pi) / fraction`.
fn erfc_continued_fraction(a: f64) -> f64 {
    let tiny = 1e-300;
    let (mut f, mut c, mut d) = (a, a, 0.0);
    for k in 1..200 {
        let ak = k as f64 / 2.0;
        d = a + ak * d;
        d = if d.abs() < tiny { 1.0 / tiny } else { 1.0 / d };
        c = a + ak / c;
        if c.abs() < tiny {
            c = tiny;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-a * a).exp() / std::f64::consts::PI.sqrt() / f
}

struct Erf;

impl<T: Float> Op<T> for Erf {
    fn name(&self) -> &'static str {
        "erf"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| T::from_f64(erf(v.to_f64()))))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * x[0].square().neg().exp().mul_scalar(T::from_f64(FRAC_2_SQRT_PI)))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * x[0].square().neg().exp().mul_scalar(T::from_f64(FRAC_2_SQRT_PI)))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// The error function `erf(x) = 2 / sqrt(pi) int_0^x e^(-t^2) dt` elementwise;
    /// `d/dx erf(x) = 2 / sqrt(pi) e^(-x^2)`.
    #[track_caller]
    pub fn erf(self) -> Self {
        record(Erf, &[self])
    }
}

#[cfg(test)]
mod tests {
    use super::erf;

    #[test]
    fn erf_matches_reference_values() {
        // erf values to 17 digits (DLMF table 7.1 / mpmath), both branches and the switch at 2.5
        let cases = [
            (0.0, 0.0),
            (1e-10, 1.1283791670955126e-10),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.4999, 0.9995928300996666),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
        ];
        for (x, want) in cases {
            for (x, want) in [(x, want), (-x, -want)] {
                let got = erf(x);
                assert!(
                    (got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1e-300),
                    "erf({x}) = {got}, want {want}"
                );
            }
        }
        assert_eq!(erf(7.0), 1.0);
        assert!(erf(f64::NAN).is_nan());
    }
}
