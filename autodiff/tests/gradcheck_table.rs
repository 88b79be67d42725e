//! THE gradient-check table: one row per op (name, input shapes including broadcasting,
//! input domain, closure), each checked in f64 at order 1 ([`gradcheck`]) and order 2
//! ([`hvp_check`]) against central differences. Adding an op means adding one row.
//!
//! Order 2 runs twice per row: on `<f(x), w>` with random `w` (the op's own second
//! derivative, zero for linear and piecewise-linear ops), and on `0.5 |f(x)|^2`, whose
//! Hessian `Jᵀ J + sum_i f_i H_i` goes through the op's backward rule applied to a seed
//! that depends on `x`: that checks the rule is itself differentiated correctly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert_autodiff::ops::{Conv1dArgs, Conv2dArgs, Pool2dArgs};
use wengert_autodiff::{concat, stack, Tape, Tensor, Var};

/// Where an input's entries are drawn from, so that finite differences are valid.
#[derive(Clone, Copy, Debug)]
enum Domain {
    /// `N(0, 1)`.
    Real,
    /// `U[0.5, 2)`: for `log`, `sqrt`, fractional powers, bases of `pow`.
    Positive,
    /// `±U[0.2, 1.5)`: away from the kinks of `abs`, `relu`, `sign` and poles at 0.
    AwayFromZero,
}
use Domain::{AwayFromZero as Away, Positive as Pos, Real};

type Fun = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

struct Row {
    name: &'static str,
    inputs: Vec<(Vec<usize>, Domain)>,
    f: Fun,
}

fn row(name: &'static str, inputs: &[(&[usize], Domain)], f: Fun) -> Row {
    Row { name, inputs: inputs.iter().map(|(s, d)| (s.to_vec(), *d)).collect(), f }
}

fn sample(shape: &[usize], d: Domain, rng: &mut StdRng) -> Tensor<f64> {
    match d {
        Real => Tensor::randn(shape, 0.0, 1.0, rng),
        Pos => Tensor::rand_uniform(shape, 0.5, 2.0, rng),
        Away => {
            let mut t = Tensor::rand_uniform(shape, 0.2, 1.5, rng);
            for v in t.data_mut() {
                if rng.random::<bool>() {
                    *v = -*v;
                }
            }
            t
        }
    }
}

/// A fixed mask pattern of `0`s and `1`s.
fn mask(shape: &[usize]) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| ((i * 7 + 3) % 3 == 0) as u8 as f64).collect(), shape)
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    vec![
        // Elementwise arithmetic, with broadcasting.
        row("add", &[(&[3, 1], Real), (&[4], Real)], |x| x[0] + x[1]),
        row("add same shape", &[(&[2, 3], Real), (&[2, 3], Real)], |x| x[0] + x[1]),
        row("sub", &[(&[2, 3], Real), (&[3], Real)], |x| x[0] - x[1]),
        row("mul", &[(&[3, 1], Real), (&[1, 4], Real)], |x| x[0] * x[1]),
        row("mul fan-out x*x", &[(&[2, 3], Real)], |x| x[0] * x[0]),
        row("div", &[(&[2, 3], Real), (&[3], Away)], |x| x[0] / x[1]),
        row("neg", &[(&[2, 3], Real)], |x| -x[0]),
        row("pow tensor exponent", &[(&[2, 3], Pos), (&[3], Real)], |x| x[0].pow(x[1])),
        row("pow scalar exponent 2.5", &[(&[2, 3], Pos)], |x| x[0].powf(2.5)),
        row("pow scalar exponent 3", &[(&[2, 3], Real)], |x| x[0].powf(3.0)),
        row("pow scalar exponent -1", &[(&[2, 3], Away)], |x| x[0].powf(-1.0)),
        row("square", &[(&[2, 3], Real)], |x| x[0].square()),
        // Scalars on either side.
        row("add_scalar", &[(&[2, 3], Real)], |x| x[0].add_scalar(1.5)),
        row("mul_scalar", &[(&[2, 3], Real)], |x| x[0].mul_scalar(-2.5)),
        row("scalar-rhs operators x+c x-c x*c x/c", &[(&[2, 3], Real)], |x| ((x[0] + 2.0) - 1.5) * 3.0 / 4.0),
        row("scalar-lhs operators c+x c-x c*x", &[(&[2, 3], Real)], |x| 3.0 * (2.0 - (1.0 + x[0]))),
        row("scalar-lhs operator c/x", &[(&[2, 3], Away)], |x| 2.0 / x[0]),
        // Elementwise functions.
        row("exp", &[(&[2, 3], Real)], |x| x[0].exp()),
        row("log", &[(&[2, 3], Pos)], |x| x[0].log()),
        row("sqrt", &[(&[2, 3], Pos)], |x| x[0].sqrt()),
        row("abs", &[(&[2, 3], Away)], |x| x[0].abs()),
        row("sign (times x^2)", &[(&[2, 3], Away)], |x| x[0].sign() * x[0].square()),
        row("sin", &[(&[2, 3], Real)], |x| x[0].sin()),
        row("cos", &[(&[2, 3], Real)], |x| x[0].cos()),
        row("tanh", &[(&[2, 3], Real)], |x| x[0].tanh()),
        row("sigmoid", &[(&[2, 3], Real)], |x| x[0].sigmoid()),
        row("relu", &[(&[2, 3], Away)], |x| x[0].relu()),
        row("leaky_relu", &[(&[2, 3], Away)], |x| x[0].leaky_relu(0.1)),
        row("softplus", &[(&[2, 3], Real)], |x| x[0].softplus()),
        row("erf", &[(&[2, 3], Real)], |x| x[0].erf()),
        row("erf (exact gelu)", &[(&[2, 3], Real)], |x| x[0] * (x[0] * std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0) * 0.5),
        row("log1p", &[(&[2, 3], Pos)], |x| (x[0] - 0.4).log1p()),
        row("expm1", &[(&[2, 3], Real)], |x| x[0].expm1()),
        row("rsqrt", &[(&[2, 3], Pos)], |x| x[0].rsqrt()),
        row("maximum", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].maximum(x[1])),
        row("minimum", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].minimum(x[1])),
        row("clamp", &[(&[3, 4], Real)], |x| x[0].clamp(-0.5, 0.5)),
        row("where", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].where_(&mask(&[3, 4]), x[1])),
        row("where (nonlinear branches)", &[(&[3, 4], Pos)], |x| x[0].log().where_(&mask(&[3, 4]), x[0].square())),
        // Linear algebra.
        row("matmul 2-D", &[(&[3, 4], Real), (&[4, 5], Real)], |x| x[0].matmul(x[1])),
        row("matmul batched", &[(&[2, 3, 4], Real), (&[2, 4, 5], Real)], |x| x[0].matmul(x[1])),
        row("matmul broadcast batch lhs", &[(&[2, 3, 4], Real), (&[4, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul broadcast batch rhs", &[(&[3, 4], Real), (&[2, 4, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul broadcast batch 1 vs 2", &[(&[1, 2, 3], Real), (&[2, 3, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul_t a^T b", &[(&[4, 3], Real), (&[4, 5], Real)], |x| x[0].matmul_t(x[1], true, false)),
        row("matmul_t a b^T", &[(&[3, 4], Real), (&[5, 4], Real)], |x| x[0].matmul_t(x[1], false, true)),
        row("matmul_t a^T b^T", &[(&[4, 3], Real), (&[5, 4], Real)], |x| x[0].matmul_t(x[1], true, true)),
        row("matmul_t batched a^T b^T", &[(&[2, 4, 3], Real), (&[2, 4], Real)], |x| x[0].matmul_t(x[1], true, true)),
        row("matmul quadratic form x^T A x", &[(&[3, 3], Real), (&[3, 1], Real)], |x| x[1].matmul_t(x[0].matmul(x[1]), true, false)),
        row("dot", &[(&[5], Real), (&[5], Real)], |x| x[0].dot(x[1])),
        row("outer", &[(&[3], Real), (&[4], Real)], |x| x[0].outer(x[1])),
        // Shapes and movement.
        row("transpose t()", &[(&[3, 4], Real)], |x| x[0].t()),
        row("transpose(0, 2)", &[(&[2, 3, 4], Real)], |x| x[0].transpose(0, 2)),
        row("permute", &[(&[2, 3, 4], Real)], |x| x[0].permute(&[2, 0, 1])),
        row("reshape", &[(&[2, 6], Real)], |x| x[0].reshape(&[3, 4]) * x[0].reshape(&[3, 4])),
        row("flatten", &[(&[2, 3], Real)], |x| x[0].flatten()),
        row("unsqueeze", &[(&[2, 3], Real)], |x| x[0].unsqueeze(1)),
        row("broadcast_to", &[(&[3, 1], Real)], |x| x[0].broadcast_to(&[2, 3, 4])),
        row("sum_to", &[(&[2, 3, 4], Real)], |x| x[0].sum_to(&[3, 1])),
        row("slice", &[(&[2, 5], Real)], |x| x[0].slice(1, 1..4)),
        row("pad", &[(&[3, 2], Real)], |x| x[0].pad(0, 1, 5)),
        row("concat axis 0", &[(&[2, 3], Real), (&[4, 3], Real)], |x| concat(&[x[0], x[1]], 0)),
        row("concat axis 1", &[(&[2, 3], Real), (&[2, 2], Real)], |x| concat(&[x[0], x[1], x[0]], 1)),
        row("stack axis 0", &[(&[3], Real), (&[3], Real)], |x| stack(&[x[0], x[1]], 0)),
        row("stack axis 1", &[(&[2, 3], Real), (&[2, 3], Real)], |x| stack(&[x[0], x[1]], 1)),
        // Reductions.
        row("sum", &[(&[2, 3, 4], Real)], |x| x[0].sum()),
        row("sum_axes keepdim", &[(&[2, 3, 4], Real)], |x| x[0].sum_axes(&[1], true)),
        row("sum_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].sum_axes(&[0, 2], false)),
        row("mean", &[(&[2, 3, 4], Real)], |x| x[0].mean()),
        row("mean_axes keepdim", &[(&[2, 3, 4], Real)], |x| x[0].mean_axes(&[-1], true)),
        row("mean_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].mean_axes(&[0, 1], false)),
        row("max", &[(&[3, 4], Real)], |x| x[0].max()),
        row("max_axes keepdim", &[(&[3, 4], Real)], |x| x[0].max_axes(&[1], true)),
        row("max_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].max_axes(&[0, 2], false)),
        row("min", &[(&[3, 4], Real)], |x| x[0].min()),
        row("min_axes keepdim", &[(&[3, 4], Real)], |x| x[0].min_axes(&[0], true)),
        row("min_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].min_axes(&[-1], false)),
        row("logsumexp", &[(&[3, 4], Real)], |x| x[0].logsumexp(1, false)),
        row("var_axes correction 1", &[(&[2, 3, 4], Real)], |x| x[0].var_axes(&[0, 2], 1, false)),
        row("var_axes correction 0 keepdim", &[(&[3, 4], Real)], |x| x[0].var_axes(&[-1], 0, true)),
        row("std_axes", &[(&[3, 4], Real)], |x| x[0].std_axes(&[1], 1, false)),
        row("logsumexp keepdim", &[(&[3, 4], Real)], |x| x[0].logsumexp(0, true)),
        row("softmax", &[(&[3, 4], Real)], |x| x[0].softmax(-1)),
        row("log_softmax", &[(&[3, 4], Real)], |x| x[0].log_softmax(0)),
        // Convolution and pooling.
        row("conv2d", &[(&[2, 2, 5, 5], Real), (&[3, 2, 3, 3], Real), (&[3], Real)], |x| {
            x[0].conv2d(x[1], Some(x[2]), &Conv2dArgs::new())
        }),
        row("conv2d stride 2 padding 1 dilation 2", &[(&[1, 2, 7, 6], Real), (&[2, 2, 2, 3], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs::new().stride(2).padding(1).dilation(2))
        }),
        row("conv2d groups 2, stride (2, 1), padding (1, 0)", &[(&[1, 4, 5, 5], Real), (&[4, 2, 3, 2], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs { stride: [2, 1], padding: [1, 0], dilation: [1, 1], groups: 2 })
        }),
        row("conv2d 1x1 pointwise", &[(&[2, 3, 3, 3], Real), (&[2, 3, 1, 1], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs::new())
        }),
        row("conv2d weight gradient (recorded)", &[(&[1, 2, 4, 4], Real), (&[1, 2, 3, 3], Real)], |x| {
            // d/dw <conv(x, w), c> = the correlation of x with c, whatever w is: the weight-gradient op
            // alone, differentiated in x and c
            let w = x[0].tape().var(Tensor::full(&[2, 2, 2, 2], 0.5));
            let f = (x[0].conv2d(w, None, &Conv2dArgs::new()) * x[1]).sum();
            x[0].tape().grad_graph(f, &[w]).get(0).unwrap()
        }),
        row("conv1d", &[(&[2, 3, 7], Real), (&[4, 3, 3], Real), (&[4], Real)], |x| {
            x[0].conv1d(x[1], Some(x[2]), &Conv1dArgs::new().stride(2).padding(1))
        }),
        row("conv1d groups 3 dilation 2", &[(&[1, 3, 8], Real), (&[6, 1, 2], Real)], |x| {
            x[0].conv1d(x[1], None, &Conv1dArgs::new().groups(3).dilation(2))
        }),
        row("conv_transpose2d", &[(&[1, 3, 3, 3], Real), (&[3, 2, 3, 3], Real), (&[2], Real)], |x| {
            x[0].conv_transpose2d(x[1], Some(x[2]), &Conv2dArgs::new().stride(2).padding(1), [1, 1])
        }),
        row("max_pool2d", &[(&[2, 2, 4, 4], Real)], |x| x[0].max_pool2d(&Pool2dArgs::new(2))),
        row("max_pool2d kernel 3 stride 2 padding 1", &[(&[1, 2, 5, 5], Real)], |x| {
            x[0].max_pool2d(&Pool2dArgs::new(3).stride(2).padding(1))
        }),
        row("avg_pool2d", &[(&[2, 2, 4, 4], Real)], |x| x[0].avg_pool2d(&Pool2dArgs::new(2))),
        row("avg_pool2d kernel 3 stride 2 padding 1", &[(&[1, 2, 5, 5], Real)], |x| {
            x[0].avg_pool2d(&Pool2dArgs::new(3).stride(2).padding(1))
        }),
        row("avg_pool2d count_include_pad false", &[(&[1, 2, 5, 4], Real)], |x| {
            x[0].avg_pool2d(&Pool2dArgs::new(2).padding(1).count_include_pad(false))
        }),
        row("adaptive_avg_pool2d", &[(&[2, 2, 5, 7], Real)], |x| x[0].adaptive_avg_pool2d([3, 2])),
        row("adaptive_avg_pool2d to 1x1", &[(&[2, 3, 3, 2], Real)], |x| x[0].adaptive_avg_pool2d([1, 1])),
        // Indexing.
        row("gather", &[(&[3, 4], Real)], |x| x[0].gather(1, &[0, 3, 2, 2, 1, 0], &[3, 2])),
        row("gather pick", &[(&[3, 4], Real)], |x| x[0].pick(&[3, 0, 1])),
        row("index_select", &[(&[3, 4], Real)], |x| x[0].index_select(0, &[2, 0, 2])),
        row("index_select axis 1", &[(&[3, 4], Real)], |x| x[0].index_select(1, &[1, 3])),
        row("one_hot (as a mask)", &[(&[3, 4], Real)], |x| {
            (x[0] * x[0].constant_like(Tensor::one_hot(&[1, 0, 3], 4))).sum_axes(&[1], false)
        }),
        // Composites that chain several rules.
        row("cross-entropy", &[(&[3, 4], Real)], |x| -x[0].log_softmax(-1).pick(&[0, 2, 3]).mean()),
        row("mlp layer", &[(&[2, 3], Real), (&[4, 3], Real), (&[4], Real)], |x| {
            x[0].matmul_t(x[1], false, true).add(x[2]).tanh()
        }),
    ]
}

/// Every op the issue lists, by the row-name prefix that covers it.
#[rustfmt::skip]
const REQUIRED: &[&str] = &[
    "add", "sub", "mul", "div", "neg", "pow tensor", "pow scalar", "exp", "log", "sqrt", "abs", "sign", "sin", "cos",
    "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "maximum", "minimum", "clamp", "where", "matmul 2-D",
    "matmul batched", "matmul broadcast", "matmul_t a^T b", "matmul_t a b^T", "matmul_t a^T b^T", "transpose",
    "permute", "reshape", "broadcast_to", "sum", "sum_axes keepdim", "sum_axes no keepdim", "mean",
    "mean_axes keepdim", "mean_axes no keepdim", "max", "max_axes keepdim", "max_axes no keepdim", "min",
    "min_axes keepdim", "min_axes no keepdim", "logsumexp", "softmax", "log_softmax", "gather", "index_select",
    "concat", "stack", "slice", "one_hot", "dot", "outer", "add_scalar", "mul_scalar", "scalar-lhs", "scalar-rhs",
    "sum_to", "pad", "unsqueeze", "flatten", "conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "var_axes", "std_axes", "erf", "log1p", "expm1", "rsqrt",
];

#[test]
fn table_covers_every_listed_op() {
    let names: Vec<&str> = table().iter().map(|r| r.name).collect();
    let missing: Vec<_> = REQUIRED.iter().filter(|p| !names.iter().any(|n| n.starts_with(*p))).collect();
    assert!(missing.is_empty(), "no table row for {missing:?}");
}

/// Runs `check` on every row and reports all failing rows at once.
fn run_table(order: &str, check: impl Fn(&Row, &[Tensor<f64>]) -> Result<String, String>) {
    let mut failures = Vec::new();
    let mut passed = 0;
    for (i, r) in table().iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(1000 + i as u64);
        let xs: Vec<_> = r.inputs.iter().map(|(s, d)| sample(s, *d, &mut rng)).collect();
        match check(r, &xs) {
            Ok(_) => passed += 1,
            Err(e) => failures.push(format!("{} ({order}): {e}", r.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n")
    );
}

#[test]
fn order_1_gradients() {
    let cfg = GradCheckConfig::default();
    run_table("order 1", |r, xs| gradcheck(r.f, xs, &cfg).map(|rep| rep.to_string()).map_err(|e| e.to_string()));
}

#[test]
fn order_2_hvp_of_projected_output() {
    let cfg = GradCheckConfig::default();
    run_table("order 2, <f, w>", |r, xs| {
        hvp_check(r.f, xs, &cfg).map(|rep| rep.to_string()).map_err(|e| e.to_string())
    });
}

#[test]
fn order_2_hvp_of_half_squared_norm() {
    let cfg = GradCheckConfig::default();
    run_table("order 2, 0.5 |f|^2", |r, xs| {
        let f = r.f;
        // The closure cannot capture `f` and stay a fn pointer, so it goes through `hvp_check`'s generic F.
        hvp_check(move |x: &[Var<'_, f64>]| f(x).square().sum() * 0.5, xs, &cfg)
            .map(|rep| rep.to_string())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn projected_mode_on_a_large_row() {
    // 2 * 40 inputs > 64 entries: both checks switch to random directions.
    let mut rng = StdRng::seed_from_u64(7);
    let a = Tensor::randn(&[5, 8], 0.0, 1.0, &mut rng);
    let b = Tensor::randn(&[8, 5], 0.0, 1.0, &mut rng);
    let cfg = GradCheckConfig::default();
    let r1 = gradcheck(|x| x[0].matmul(x[1]).tanh(), &[a.clone(), b.clone()], &cfg).unwrap();
    let r2 = hvp_check(|x| x[0].matmul(x[1]).tanh(), &[a, b], &cfg).unwrap();
    let projected = wengert_autodiff::gradcheck::CheckMode::Projected { directions: cfg.projections };
    assert_eq!((r1.mode, r1.checked), (projected, 2 * cfg.projections));
    assert_eq!((r2.mode, r2.checked), (projected, 2 * cfg.projections * 80));
}

#[test]
fn log_softmax_of_huge_logits_is_finite_with_exact_gradient() {
    // logits (1e4, -1e4, 0): log_softmax = x - logsumexp(x) = (0, -2e4, -1e4) up to e^-1e4,
    // and d/dx log_softmax(x)[0] = e_0 - softmax(x) = (0, 0, 0) exactly in f64.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1e4, -1e4, 0.0], &[1, 3]));
    let lp = x.log_softmax(-1);
    assert_eq!(lp.value().to_vec(), vec![0.0, -2e4, -1e4]);
    let g = tape.grad(lp.pick(&[1]).sum(), &[x]).value(0);
    // d/dx log_softmax(x)[1] = e_1 - softmax(x) = (-1, 1, 0)
    assert_eq!(g.to_vec(), vec![-1.0, 1.0, 0.0]);
    let s = x.softmax(-1);
    assert_eq!(s.value().to_vec(), vec![1.0, 0.0, 0.0]);
    // The second derivative stays finite too.
    let g1 = tape.grad_graph(lp.pick(&[2]).sum(), &[x]).get(0).unwrap();
    let h = tape.grad((g1 * g1).sum(), &[x]).value(0);
    assert!(h.all_finite(), "{h}");
}

#[test]
fn pow_at_a_zero_base_and_a_zero_exponent_has_finite_derivatives() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![0.0, 2.0], &[2]));
    // d/dx x^0 = 0, also at x = 0 (where the rule p x^(p-1) would give 0 * inf)
    assert_eq!(tape.grad(x.powf(0.0).sum(), &[x]).value(0).to_vec(), vec![0.0, 0.0]);
    // out = a^b at a = (0, 2), b = (2, 3): d/da = b a^(b-1) = (0, 12), d/db = a^b ln a = (0, 8 ln 2)
    // (zero at a = 0, b > 0, as PyTorch, rather than 0 * ln 0 = NaN)
    let b = tape.var(Tensor::from_vec(vec![2.0, 3.0], &[2]));
    let g = tape.grad_graph(x.pow(b).sum(), &[x, b]);
    assert_eq!(g.value(0).to_vec(), vec![0.0, 12.0]);
    assert_eq!(g.value(1).to_vec(), vec![0.0, 8.0 * 2f64.ln()]);
    // d/da (a^b ln a) = a^(b-1) (b ln a + 1) -> 0 as a -> 0 for b = 2; at a = 2, b = 3: 4 (3 ln 2 + 1)
    let h = tape.grad(g.get(1).unwrap().sum(), &[x]).value(0);
    assert_eq!(h.as_slice()[0], 0.0);
    assert!((h.as_slice()[1] - 4.0 * (3.0 * 2f64.ln() + 1.0)).abs() < 1e-12, "{h}");
}
