//! Powers: `powf(x, p) = x^p` for a scalar exponent and `pow(a, b) = a^b` elementwise.
//!
//! Rules: `d x^p / dx = p x^(p-1)` (no gradient for `p = 0`), recorded as one fused op
//! `scaled_mul(g, x^(p-1)) = g * (x^(p-1) * p)`; for `out = a^b`:
//! `da = g b a^(b-1)`, `db = g out ln a` (zero where `a = 0`, as PyTorch).

use super::{grads, record};
use crate::tensor::kernels::{map, zip};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct PowScalar<T>(T);

impl<T: Float> Op<T> for PowScalar<T> {
    fn name(&self) -> &'static str {
        "powf"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let p = self.0;
        Ok(if p == T::from_f64(2.0) {
            map(x[0], |v| v * v)
        } else if p == -T::ONE {
            map(x[0], |v| T::ONE / v)
        } else {
            map(x[0], |v| v.powf(p))
        })
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let p = self.0;
        if p == T::ZERO {
            // x^0 = 1 is constant; `0 * x^-1` would give NaN at x = 0.
            return grads([None]);
        }
        let d = if p == T::from_f64(2.0) { x[0] } else { x[0].powf(p - T::ONE) };
        grads([Some(record(ScaledMul(p), &[g, d]))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let p = self.0;
        if p == T::ZERO {
            return None;
        }
        let d = if p == T::from_f64(2.0) { x[0] } else { x[0].powf(p - T::ONE) };
        t[0].map(|t| record(ScaledMul(p), &[t, d]))
    }
}

/// `scaled_mul(g, y) = g * (y * c)`: the rule of `x^p` (with `y = x^(p-1)`, `c = p`) as one op rather than
/// two (`mul_scalar`, `mul`); perf of L-BFGS on the chained Rosenbrock, whose gradient is mostly squares.
///
/// It is linear in each input: `d/dg = scaled_mul(gbar, y)`, `d/dy = scaled_mul(gbar, g)`.
struct ScaledMul<T>(T);

impl<T: Float> Op<T> for ScaledMul<T> {
    fn name(&self) -> &'static str {
        "scaled_mul"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let c = self.0;
        zip("scaled_mul", x[0], x[1], |g, y| g * (y * c))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, gbar: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let c = self.0;
        grads([
            needs[0].then(|| record(ScaledMul(c), &[gbar, x[1]]).sum_to(&x[0].shape())),
            needs[1].then(|| record(ScaledMul(c), &[gbar, x[0]]).sum_to(&x[1].shape())),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let c = self.0;
        let (g, y) = (x[0], x[1]);
        super::tangent_sum(
            [t[0].map(|tg| record(ScaledMul(c), &[tg, y])), t[1].map(|ty| record(ScaledMul(c), &[g, ty]))],
            out,
        )
    }
}

struct Pow;

/// `ln a`, with `ln 1 = 0` put where `a = 0`: there `out = 0^b = 0` for `b > 0`, so
/// `d out / db = 0` (as PyTorch) instead of `0 * -inf = NaN`. Substituting the base
/// (rather than masking the log) keeps the second derivative finite as well.
fn log_base<'t, T: Float>(a: Var<'t, T>) -> Var<'t, T> {
    let av = a.value();
    if !av.as_slice().contains(&T::ZERO) {
        return a.log();
    }
    a.tape().scalar(T::ONE).where_(&map(&av, |v| if v == T::ZERO { T::ONE } else { T::ZERO }), a).log()
}

impl<T: Float> Op<T> for Pow {
    fn name(&self) -> &'static str {
        "pow"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        zip("pow", x[0], x[1], |a, b| a.powf(b))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (a, b) = (x[0], x[1]);
        grads([
            needs[0].then(|| (g * b * a.pow(b - T::ONE)).sum_to(&a.shape())),
            needs[1].then(|| (g * out * log_base(a)).sum_to(&b.shape())),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let (a, b) = (x[0], x[1]);
        // d a^b = b a^(b-1) ta + a^b ln(a) tb
        super::tangent_sum([t[0].map(|ta| ta * b * a.pow(b - T::ONE)), t[1].map(|tb| tb * out * log_base(a))], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self^p` elementwise for a scalar exponent `p`.
    #[track_caller]
    pub fn powf(self, p: T) -> Self {
        record(PowScalar(p), &[self])
    }

    /// `self^2` elementwise.
    #[track_caller]
    pub fn square(self) -> Self {
        self.powf(T::from_f64(2.0))
    }

    /// `self^exponent` elementwise with a tensor exponent, with broadcasting
    /// (differentiable in both; the base must be positive where the exponent's gradient is wanted).
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_pow`].
    #[track_caller]
    pub fn pow(self, exponent: Self) -> Self {
        record(Pow, &[self, exponent])
    }

    /// [`Var::pow`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_pow(self, exponent: Self) -> Result<Self> {
        self.tape().apply(Pow, &[self, exponent])
    }
}
