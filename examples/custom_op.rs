//! A user-defined op, checked at orders 1 and 2.
//!
//! SiLU (swish), `silu(x) = x sigmoid(x)`, is not in the library. Here it is a fused op:
//! a forward on tensors (one [`kernels::map`], stable for large `|x|`) and a backward
//! written with tape ops,
//!
//! ```text
//! d silu / dx = s + x s (1 - s),   s = sigmoid(x)
//! ```
//!
//! so the recorded gradient can be differentiated again. The example runs
//! [`gradcheck`] and [`hvp_check`] on it (entry by entry for a small input, along random
//! directions for a large one), compares it with the composite `x * sigmoid(x)`, and
//! shows that the Hessian-vector product of a loss built on it matches.
//!
//! Run with `cargo run --release --example custom_op`. Expected output (the numbers
//! in the reports vary in their last digits with the platform's libm):
//!
//! ```text
//! silu([-3, -0.5, 0, 0.5, 3]) = [-0.142278, -0.18877, 0, 0.31123, 2.857722]
//! gradient check passed (full): 25 entries, max error 1.354e-10, worst error/tolerance 1.23e-7
//! hvp check passed (full): 25 entries, max error 2.594e-11, worst error/tolerance 9.52e-7
//! gradient check passed (8 random directions per input): 16 entries, max error 3.585e-9, worst error/tolerance 1.69e-6
//! hvp check passed (8 random directions per input): 17600 entries, max error 1.439e-9, worst error/tolerance 3.47e-5
//! fused vs composite: max |value diff| = 0.0e0, max |gradient diff| = 8.9e-16, max |Hv diff| = 1.8e-15
//! ```

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert::autodiff::{functional, kernels, Float, InputGrads, Op, Result, Tensor, Var};

/// The SiLU op: `y = x sigmoid(x)`.
struct Silu;

impl<T: Float> Op<T> for Silu {
    fn name(&self) -> &'static str {
        "silu"
    }

    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        // x / (1 + e^-x) overflows e^-x for very negative x; x e^x / (1 + e^x) does not.
        Ok(kernels::map(x[0], |v| {
            if v >= T::ZERO {
                v / (T::ONE + (-v).exp())
            } else {
                let e = v.exp();
                v * e / (T::ONE + e)
            }
        }))
    }

    fn backward<'t>(&self, x: &[Var<'t, T>], _y: Var<'t, T>, g: Var<'t, T>, _needs: &[bool]) -> InputGrads<'t, T> {
        // dx = g (s + x s (1 - s)), with s = sigmoid(x): every factor is a tape op on x.
        let x = x[0];
        let s = x.sigmoid();
        let one_minus_s = s.neg().add_scalar(T::ONE);
        [Some(g * (s + x * s * one_minus_s))].into_iter().collect()
    }
}

/// `x.silu()` as a method, the way the library's own ops read.
trait SiluExt<'t, T: Float> {
    fn silu(self) -> Var<'t, T>;
}

impl<'t, T: Float> SiluExt<'t, T> for Var<'t, T> {
    fn silu(self) -> Var<'t, T> {
        self.tape().apply(Silu, &[self]).expect("an elementwise op accepts any shape")
    }
}

fn max_abs_diff(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

pub fn main() -> Result<()> {
    let cfg = GradCheckConfig::default();

    let x = Tensor::from_vec(vec![-3.0_f64, -0.5, 0.0, 0.5, 3.0], &[5]);
    let y = functional::vjp(|x| x.silu(), &x, &Tensor::ones(&[5])).0;
    let shown: Vec<String> = y.as_slice().iter().map(|v| format!("{}", (v * 1e6).round() / 1e6)).collect();
    println!("silu([-3, -0.5, 0, 0.5, 3]) = [{}]", shown.join(", "));

    // Small input: the full 5 x 5 Jacobian and Hessian, entry by entry.
    println!("{}", gradcheck(|x| x[0].silu(), std::slice::from_ref(&x), &cfg)?);
    println!("{}", hvp_check(|x| x[0].silu(), &[x], &cfg)?);

    // Large input inside a small network: random projections.
    let mut rng = StdRng::seed_from_u64(0);
    let w = Tensor::randn(&[10, 100], 0.0, 0.3, &mut rng);
    let xb = Tensor::randn(&[100], 0.0, 1.0, &mut rng);
    println!(
        "{}",
        gradcheck(
            |x| x[0].reshape(&[1, 100]).matmul_t(x[1], false, true).silu().sum(),
            &[xb.clone(), w.clone()],
            &cfg
        )?
    );
    println!(
        "{}",
        hvp_check(|x| x[0].reshape(&[1, 100]).matmul_t(x[1], false, true).silu().sum(), &[xb.clone(), w], &cfg)?
    );

    // The fused op agrees with the composite x * sigmoid(x) in value, gradient and HVP.
    let v = Tensor::randn(&[100], 0.0, 1.0, &mut rng);
    let fused = functional::value_and_grad(|x| x.silu().square().sum(), &xb);
    let composite = functional::value_and_grad(|x| (x * x.sigmoid()).square().sum(), &xb);
    let hv_fused = functional::hvp(|x| x.silu().square().sum(), &xb, &v);
    let hv_composite = functional::hvp(|x| (x * x.sigmoid()).square().sum(), &xb, &v);
    println!(
        "fused vs composite: max |value diff| = {:.1e}, max |gradient diff| = {:.1e}, max |Hv diff| = {:.1e}",
        (fused.0 - composite.0).abs(),
        max_abs_diff(&fused.1, &composite.1),
        max_abs_diff(&hv_fused, &hv_composite)
    );
    Ok(())
}
