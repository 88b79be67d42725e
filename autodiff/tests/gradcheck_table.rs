//! THE gradient-check table: one row per op (its exact registered name, input shapes including
//! broadcasting, input domain, closure), each checked in f64 with strict tolerances
//! ([`GradCheckConfig::strict`]) at order 1, the reverse rule ([`gradcheck`]) and the forward
//! rule ([`jvp_check`]: against central differences and against the reverse rule,
//! `<J t, u> = <t, Jᵀ u>`), and at order 2 ([`hvp_check`], forward over reverse), with the
//! three HVP modes and jvp-of-jvp checked against each other. Adding an op means adding its name
//! to `ops::REGISTRY` and one row here; the coverage tests read the registry.
//!
//! Order 2 runs twice per row: on `<f(x), w>` with random `w` (the op's own second
//! derivative, zero for linear and piecewise-linear ops), and on `0.5 |f(x)|^2`, whose
//! Hessian `Jᵀ J + sum_i f_i H_i` goes through the op's backward rule applied to a seed
//! that depends on `x`: that checks the rule is itself differentiated correctly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::functional::{hvp_many_with, HvpMode};
use wengert_autodiff::gradcheck::{gradcheck, hvp_check, jvp_check, GradCheckConfig};
use wengert_autodiff::ops::REGISTRY;
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
    /// The exact name of a primitive ([`wengert_autodiff::Op::name`]) or a composite in
    /// `ops::REGISTRY`, or `"chain"` for a row that chains several rules.
    op: &'static str,
    /// What this row varies (shapes, arguments), if there are several rows for `op`.
    case: &'static str,
    inputs: Vec<(Vec<usize>, Domain)>,
    f: Fun,
}

fn row(op: &'static str, case: &'static str, inputs: &[(&[usize], Domain)], f: Fun) -> Row {
    Row { op, case, inputs: inputs.iter().map(|(s, d)| (s.to_vec(), *d)).collect(), f }
}

impl Row {
    fn label(&self) -> String {
        if self.case.is_empty() {
            self.op.to_string()
        } else {
            format!("{} [{}]", self.op, self.case)
        }
    }
}

/// The gradient of `<g(x + z), w>` in a fresh trainable `z = 0`, recorded: the backward rule of `g`
/// as a function of `x` and `w`, so rows can reach the ops that only backward rules record.
fn recorded_grad<'t>(x: Var<'t, f64>, w: Var<'t, f64>, g: impl Fn(Var<'t, f64>) -> Var<'t, f64>) -> Var<'t, f64> {
    let z = x.tape().var(Tensor::zeros(&x.shape()));
    let y = (g(x + z) * w).sum();
    x.tape().grad_graph(y, &[z]).get(0).expect("g depends on its input")
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
        row("add", "", &[(&[3, 1], Real), (&[4], Real)], |x| x[0] + x[1]),
        row("add", "add same shape", &[(&[2, 3], Real), (&[2, 3], Real)], |x| x[0] + x[1]),
        row("sub", "", &[(&[2, 3], Real), (&[3], Real)], |x| x[0] - x[1]),
        row("mul", "", &[(&[3, 1], Real), (&[1, 4], Real)], |x| x[0] * x[1]),
        row("mul", "mul fan-out x*x", &[(&[2, 3], Real)], |x| x[0] * x[0]),
        row("div", "", &[(&[2, 3], Real), (&[3], Away)], |x| x[0] / x[1]),
        row("neg", "", &[(&[2, 3], Real)], |x| -x[0]),
        row("pow", "pow tensor exponent", &[(&[2, 3], Pos), (&[3], Real)], |x| x[0].pow(x[1])),
        row("powf", "pow scalar exponent 2.5", &[(&[2, 3], Pos)], |x| x[0].powf(2.5)),
        row("powf", "pow scalar exponent 3", &[(&[2, 3], Real)], |x| x[0].powf(3.0)),
        row("powf", "pow scalar exponent -1", &[(&[2, 3], Away)], |x| x[0].powf(-1.0)),
        row("square", "", &[(&[2, 3], Real)], |x| x[0].square()),
        // Scalars on either side.
        row("add_scalar", "", &[(&[2, 3], Real)], |x| x[0].add_scalar(1.5)),
        row("mul_scalar", "", &[(&[2, 3], Real)], |x| x[0].mul_scalar(-2.5)),
        row("add_scalar", "scalar-rhs operators x+c x-c x*c x/c", &[(&[2, 3], Real)], |x| ((x[0] + 2.0) - 1.5) * 3.0 / 4.0),
        row("add_scalar", "scalar-lhs operators c+x c-x c*x", &[(&[2, 3], Real)], |x| 3.0 * (2.0 - (1.0 + x[0]))),
        row("powf", "scalar-lhs operator c/x", &[(&[2, 3], Away)], |x| 2.0 / x[0]),
        // Elementwise functions.
        row("exp", "", &[(&[2, 3], Real)], |x| x[0].exp()),
        row("log", "", &[(&[2, 3], Pos)], |x| x[0].log()),
        row("sqrt", "", &[(&[2, 3], Pos)], |x| x[0].sqrt()),
        row("abs", "", &[(&[2, 3], Away)], |x| x[0].abs()),
        row("sign", "sign (times x^2)", &[(&[2, 3], Away)], |x| x[0].sign() * x[0].square()),
        row("sin", "", &[(&[2, 3], Real)], |x| x[0].sin()),
        row("cos", "", &[(&[2, 3], Real)], |x| x[0].cos()),
        row("atan", "", &[(&[2, 3], Real)], |x| x[0].atan()),
        row("tanh", "", &[(&[2, 3], Real)], |x| x[0].tanh()),
        row("sigmoid", "", &[(&[2, 3], Real)], |x| x[0].sigmoid()),
        row("relu", "", &[(&[2, 3], Away)], |x| x[0].relu()),
        row("leaky_relu", "", &[(&[2, 3], Away)], |x| x[0].leaky_relu(0.1)),
        row("softplus", "", &[(&[2, 3], Real)], |x| x[0].softplus()),
        row("erf", "", &[(&[2, 3], Real)], |x| x[0].erf()),
        row("erf", "erf (exact gelu)", &[(&[2, 3], Real)], |x| x[0] * (x[0] * std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0) * 0.5),
        row("log1p", "", &[(&[2, 3], Pos)], |x| (x[0] - 0.4).log1p()),
        row("expm1", "", &[(&[2, 3], Real)], |x| x[0].expm1()),
        row("rsqrt", "", &[(&[2, 3], Pos)], |x| x[0].rsqrt()),
        row("maximum", "", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].maximum(x[1])),
        row("minimum", "", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].minimum(x[1])),
        row("clamp", "", &[(&[3, 4], Real)], |x| x[0].clamp(-0.5, 0.5)),
        row("where", "", &[(&[3, 1], Real), (&[4], Real)], |x| x[0].where_(&mask(&[3, 4]), x[1])),
        row("where", "where (nonlinear branches)", &[(&[3, 4], Pos)], |x| x[0].log().where_(&mask(&[3, 4]), x[0].square())),
        // Linear algebra.
        row("matmul", "matmul 2-D", &[(&[3, 4], Real), (&[4, 5], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul batched", &[(&[2, 3, 4], Real), (&[2, 4, 5], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul broadcast batch lhs", &[(&[2, 3, 4], Real), (&[4, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul broadcast batch rhs", &[(&[3, 4], Real), (&[2, 4, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul broadcast batch 1 vs 2", &[(&[1, 2, 3], Real), (&[2, 3, 2], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul_t a^T b", &[(&[4, 3], Real), (&[4, 5], Real)], |x| x[0].matmul_t(x[1], true, false)),
        row("matmul", "matmul_t a b^T", &[(&[3, 4], Real), (&[5, 4], Real)], |x| x[0].matmul_t(x[1], false, true)),
        row("matmul", "matmul_t a^T b^T", &[(&[4, 3], Real), (&[5, 4], Real)], |x| x[0].matmul_t(x[1], true, true)),
        row("matmul", "matmul_t batched a^T b^T", &[(&[2, 4, 3], Real), (&[2, 4], Real)], |x| x[0].matmul_t(x[1], true, true)),
        row("matmul", "matmul quadratic form x^T A x", &[(&[3, 3], Real), (&[3, 1], Real)], |x| x[1].matmul_t(x[0].matmul(x[1]), true, false)),
        row("dot", "", &[(&[5], Real), (&[5], Real)], |x| x[0].dot(x[1])),
        row("outer", "", &[(&[3], Real), (&[4], Real)], |x| x[0].outer(x[1])),
        // Shapes and movement.
        row("t", "transpose t()", &[(&[3, 4], Real)], |x| x[0].t()),
        row("transpose", "transpose(0, 2)", &[(&[2, 3, 4], Real)], |x| x[0].transpose(0, 2)),
        row("permute", "", &[(&[2, 3, 4], Real)], |x| x[0].permute(&[2, 0, 1])),
        row("reshape", "", &[(&[2, 6], Real)], |x| x[0].reshape(&[3, 4]) * x[0].reshape(&[3, 4])),
        row("flatten", "", &[(&[2, 3], Real)], |x| x[0].flatten()),
        row("unsqueeze", "", &[(&[2, 3], Real)], |x| x[0].unsqueeze(1)),
        row("broadcast_to", "", &[(&[3, 1], Real)], |x| x[0].broadcast_to(&[2, 3, 4])),
        row("sum_to", "", &[(&[2, 3, 4], Real)], |x| x[0].sum_to(&[3, 1])),
        row("slice", "", &[(&[2, 5], Real)], |x| x[0].slice(1, 1..4)),
        row("pad", "", &[(&[3, 2], Real)], |x| x[0].pad(0, 1, 5)),
        row("concat", "concat axis 0", &[(&[2, 3], Real), (&[4, 3], Real)], |x| concat(&[x[0], x[1]], 0)),
        row("concat", "concat axis 1", &[(&[2, 3], Real), (&[2, 2], Real)], |x| concat(&[x[0], x[1], x[0]], 1)),
        row("stack", "stack axis 0", &[(&[3], Real), (&[3], Real)], |x| stack(&[x[0], x[1]], 0)),
        row("stack", "stack axis 1", &[(&[2, 3], Real), (&[2, 3], Real)], |x| stack(&[x[0], x[1]], 1)),
        // Reductions.
        row("sum", "", &[(&[2, 3, 4], Real)], |x| x[0].sum()),
        row("sum", "sum_axes keepdim", &[(&[2, 3, 4], Real)], |x| x[0].sum_axes(&[1], true)),
        row("sum", "sum_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].sum_axes(&[0, 2], false)),
        row("mean", "", &[(&[2, 3, 4], Real)], |x| x[0].mean()),
        row("mean", "mean_axes keepdim", &[(&[2, 3, 4], Real)], |x| x[0].mean_axes(&[-1], true)),
        row("mean", "mean_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].mean_axes(&[0, 1], false)),
        row("max", "", &[(&[3, 4], Real)], |x| x[0].max()),
        row("max", "max_axes keepdim", &[(&[3, 4], Real)], |x| x[0].max_axes(&[1], true)),
        row("max", "max_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].max_axes(&[0, 2], false)),
        row("min", "", &[(&[3, 4], Real)], |x| x[0].min()),
        row("min", "min_axes keepdim", &[(&[3, 4], Real)], |x| x[0].min_axes(&[0], true)),
        row("min", "min_axes no keepdim", &[(&[2, 3, 4], Real)], |x| x[0].min_axes(&[-1], false)),
        row("logsumexp", "", &[(&[3, 4], Real)], |x| x[0].logsumexp(1, false)),
        row("var_axes", "var_axes correction 1", &[(&[2, 3, 4], Real)], |x| x[0].var_axes(&[0, 2], 1, false)),
        row("var_axes", "var_axes correction 0 keepdim", &[(&[3, 4], Real)], |x| x[0].var_axes(&[-1], 0, true)),
        row("std_axes", "", &[(&[3, 4], Real)], |x| x[0].std_axes(&[1], 1, false)),
        row("logsumexp", "logsumexp keepdim", &[(&[3, 4], Real)], |x| x[0].logsumexp(0, true)),
        row("softmax", "", &[(&[3, 4], Real)], |x| x[0].softmax(-1)),
        row("log_softmax", "", &[(&[3, 4], Real)], |x| x[0].log_softmax(0)),
        // Convolution and pooling.
        row("conv2d", "", &[(&[2, 2, 5, 5], Real), (&[3, 2, 3, 3], Real), (&[3], Real)], |x| {
            x[0].conv2d(x[1], Some(x[2]), &Conv2dArgs::new())
        }),
        row("conv2d", "conv2d stride 2 padding 1 dilation 2", &[(&[1, 2, 7, 6], Real), (&[2, 2, 2, 3], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs::new().stride(2).padding(1).dilation(2))
        }),
        row("conv2d", "conv2d groups 2, stride (2, 1), padding (1, 0)", &[(&[1, 4, 5, 5], Real), (&[4, 2, 3, 2], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs { stride: [2, 1], padding: [1, 0], dilation: [1, 1], groups: 2 })
        }),
        row("conv2d", "conv2d 1x1 pointwise", &[(&[2, 3, 3, 3], Real), (&[2, 3, 1, 1], Real)], |x| {
            x[0].conv2d(x[1], None, &Conv2dArgs::new())
        }),
        row("conv2d_weight_grad", "conv2d weight gradient (recorded)", &[(&[1, 2, 4, 4], Real), (&[1, 2, 3, 3], Real)], |x| {
            // d/dw <conv(x, w), c> = the correlation of x with c, whatever w is: the weight-gradient op
            // alone, differentiated in x and c
            let w = x[0].tape().var(Tensor::full(&[2, 2, 2, 2], 0.5));
            let f = (x[0].conv2d(w, None, &Conv2dArgs::new()) * x[1]).sum();
            x[0].tape().grad_graph(f, &[w]).get(0).unwrap()
        }),
        row("conv1d", "", &[(&[2, 3, 7], Real), (&[4, 3, 3], Real), (&[4], Real)], |x| {
            x[0].conv1d(x[1], Some(x[2]), &Conv1dArgs::new().stride(2).padding(1))
        }),
        row("conv1d", "conv1d groups 3 dilation 2", &[(&[1, 3, 8], Real), (&[6, 1, 2], Real)], |x| {
            x[0].conv1d(x[1], None, &Conv1dArgs::new().groups(3).dilation(2))
        }),
        row("conv_transpose2d", "", &[(&[1, 3, 3, 3], Real), (&[3, 2, 3, 3], Real), (&[2], Real)], |x| {
            x[0].conv_transpose2d(x[1], Some(x[2]), &Conv2dArgs::new().stride(2).padding(1), [1, 1])
        }),
        row("max_pool2d", "", &[(&[2, 2, 4, 4], Real)], |x| x[0].max_pool2d(&Pool2dArgs::new(2))),
        row("max_pool2d", "max_pool2d kernel 3 stride 2 padding 1", &[(&[1, 2, 5, 5], Real)], |x| {
            x[0].max_pool2d(&Pool2dArgs::new(3).stride(2).padding(1))
        }),
        row("avg_pool2d", "", &[(&[2, 2, 4, 4], Real)], |x| x[0].avg_pool2d(&Pool2dArgs::new(2))),
        row("avg_pool2d", "avg_pool2d kernel 3 stride 2 padding 1", &[(&[1, 2, 5, 5], Real)], |x| {
            x[0].avg_pool2d(&Pool2dArgs::new(3).stride(2).padding(1))
        }),
        row("avg_pool2d", "avg_pool2d count_include_pad false", &[(&[1, 2, 5, 4], Real)], |x| {
            x[0].avg_pool2d(&Pool2dArgs::new(2).padding(1).count_include_pad(false))
        }),
        row("adaptive_avg_pool2d", "", &[(&[2, 2, 5, 7], Real)], |x| x[0].adaptive_avg_pool2d([3, 2])),
        row("adaptive_avg_pool2d", "adaptive_avg_pool2d to 1x1", &[(&[2, 3, 3, 2], Real)], |x| x[0].adaptive_avg_pool2d([1, 1])),
        // Indexing.
        row("gather", "", &[(&[3, 4], Real)], |x| x[0].gather(1, &[0, 3, 2, 2, 1, 0], &[3, 2])),
        row("pick", "gather pick", &[(&[3, 4], Real)], |x| x[0].pick(&[3, 0, 1])),
        row("index_select", "", &[(&[3, 4], Real)], |x| x[0].index_select(0, &[2, 0, 2])),
        row("index_select", "index_select axis 1", &[(&[3, 4], Real)], |x| x[0].index_select(1, &[1, 3])),
        row("one_hot", "one_hot (as a mask)", &[(&[3, 4], Real)], |x| {
            (x[0] * x[0].constant_like(Tensor::one_hot(&[1, 0, 3], 4))).sum_axes(&[1], false)
        }),
        // Ops only backward rules record, reached through a recorded gradient.
        row("tanh_grad", "", &[(&[2, 3], Real), (&[2, 3], Real)], |x| recorded_grad(x[0], x[1], |v| v.tanh())),
        row("scaled_mul", "d x^3", &[(&[2, 3], Real), (&[2, 3], Real)], |x| recorded_grad(x[0], x[1], |v| v.powf(3.0))),
        row("scatter_add", "", &[(&[3, 4], Real), (&[3, 2], Real)], |x| {
            recorded_grad(x[0], x[1], |v| v.gather(1, &[0, 3, 2, 2, 1, 0], &[3, 2]).square())
        }),
        row("index_add", "", &[(&[3, 4], Real), (&[3, 4], Real)], |x| {
            recorded_grad(x[0], x[1], |v| v.index_select(0, &[2, 0, 2]).square())
        }),
        // Composites that chain several rules.
        row("chain", "cross-entropy", &[(&[3, 4], Real)], |x| -x[0].log_softmax(-1).pick(&[0, 2, 3]).mean()),
        row("chain", "mlp layer", &[(&[2, 3], Real), (&[4, 3], Real), (&[4], Real)], |x| {
            x[0].matmul_t(x[1], false, true).add(x[2]).tanh()
        }),
        // Appended last, so the rows above keep their seeds (each row is seeded by its index).
        row("matmul", "matmul matrix-vector", &[(&[3, 4], Real), (&[4], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul vector-matrix", &[(&[3], Real), (&[3, 4], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul vector-vector", &[(&[4], Real), (&[4], Real)], |x| x[0].matmul(x[1])),
        row("matmul", "matmul batched matrix-vector", &[(&[2, 3, 4], Real), (&[4], Real)], |x| x[0].matmul(x[1])),
        // Negative axes count from the end, in every op that takes an axis.
        row("index_select", "index_select axis -1", &[(&[3, 4], Real)], |x| x[0].index_select(-1, &[1, 3])),
        row("gather", "gather axis -2", &[(&[3, 2], Real)], |x| x[0].gather(-2, &[2, 0, 1, 1], &[2, 2])),
        row("slice", "slice axis -1", &[(&[2, 5], Real)], |x| x[0].slice(-1, 1..4)),
        row("pad", "pad axis -2", &[(&[3, 2], Real)], |x| x[0].pad(-2, 1, 5)),
        row("concat", "concat axis -1", &[(&[2, 3], Real), (&[2, 2], Real)], |x| concat(&[x[0], x[1]], -1)),
        row("stack", "stack axis -1", &[(&[2, 3], Real), (&[2, 3], Real)], |x| stack(&[x[0], x[1]], -1)),
        row("unsqueeze", "unsqueeze -1", &[(&[2, 3], Real)], |x| x[0].unsqueeze(-1)),
        row("permute", "permute negative axes", &[(&[2, 3, 4], Real)], |x| x[0].permute(&[-1, 0, -2])),
        row("transpose", "transpose(-1, 0)", &[(&[2, 3, 4], Real)], |x| x[0].transpose(-1, 0)),
    ]
}

/// The names registered in `ops::REGISTRY`: `(primitives, composites)`.
fn registered() -> (Vec<&'static str>, Vec<&'static str>) {
    let p = REGISTRY.iter().flat_map(|m| m.primitives.iter().copied()).collect();
    let c = REGISTRY.iter().flat_map(|m| m.composites.iter().copied()).collect();
    (p, c)
}

#[test]
fn every_registered_op_has_a_row_of_its_exact_name() {
    let (prims, comps) = registered();
    let rows = table();
    let missing: Vec<_> = prims.iter().chain(&comps).filter(|n| !rows.iter().any(|r| r.op == **n)).collect();
    assert!(missing.is_empty(), "registered ops without a table row: {missing:?}");
    let unknown: Vec<_> = rows
        .iter()
        .filter(|r| r.op != "chain" && !prims.contains(&r.op) && !comps.contains(&r.op))
        .map(Row::label)
        .collect();
    assert!(unknown.is_empty(), "rows naming no registered op: {unknown:?}");
}

/// The ops a row records: its function, its gradient graph and a tangent sweep over both.
fn recorded_ops(r: &Row, xs: &[Tensor<f64>]) -> Vec<&'static str> {
    let tape = Tape::new();
    let vars: Vec<_> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = (r.f)(&vars);
    let g = tape.grad_graph(y.square().sum(), &vars);
    let gs: Vec<_> = (0..vars.len()).map(|i| g.dense(i)).collect();
    let ts: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
    tape.jvp(&gs, &vars, &ts, true).expect("tangents have the inputs' shapes");
    tape.op_names()
}

#[test]
fn each_row_records_its_primitive_and_every_recorded_op_is_registered() {
    let (prims, _) = registered();
    let mut problems = Vec::new();
    for (i, r) in table().iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(1000 + i as u64);
        let xs: Vec<_> = r.inputs.iter().map(|(s, d)| sample(s, *d, &mut rng)).collect();
        let ops = recorded_ops(r, &xs);
        if prims.contains(&r.op) && !ops.contains(&r.op) {
            problems.push(format!("{} records {ops:?}, not `{}`", r.label(), r.op));
        }
        for op in ops.iter().filter(|op| !prims.contains(op)) {
            problems.push(format!("{} records `{op}`, which ops::REGISTRY does not list", r.label()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
            Err(e) => failures.push(format!("{} ({order}): {e}", r.label())),
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

/// A passing report, or an error if an op fell back to the double-vjp JVP.
fn own_jvp_rules(r: wengert_autodiff::gradcheck::GradCheckReport) -> Result<String, String> {
    if r.ops_without_jvp.is_empty() {
        Ok(r.to_string())
    } else {
        Err(format!("ops without a JVP rule of their own: {:?}", r.ops_without_jvp))
    }
}

#[test]
fn order_1_gradients() {
    let cfg = GradCheckConfig::strict();
    run_table("order 1", |r, xs| gradcheck(r.f, xs, &cfg).map(|rep| rep.to_string()).map_err(|e| e.to_string()));
}

#[test]
fn order_1_jvp_rules_against_differences_and_the_reverse_rules() {
    let cfg = GradCheckConfig::strict();
    run_table("order 1, jvp", |r, xs| jvp_check(r.f, xs, &cfg).map_err(|e| e.to_string()).and_then(own_jvp_rules));
}

#[test]
fn order_2_hvp_of_projected_output() {
    let cfg = GradCheckConfig::strict();
    run_table("order 2, <f, w>", |r, xs| hvp_check(r.f, xs, &cfg).map_err(|e| e.to_string()).and_then(own_jvp_rules));
}

#[test]
fn order_2_hvp_of_half_squared_norm() {
    let cfg = GradCheckConfig::strict();
    run_table("order 2, 0.5 |f|^2", |r, xs| {
        let f = r.f;
        // The closure cannot capture `f` and stay a fn pointer, so it goes through `hvp_check`'s generic F.
        hvp_check(move |x: &[Var<'_, f64>]| f(x).square().sum() * 0.5, xs, &cfg)
            .map_err(|e| e.to_string())
            .and_then(own_jvp_rules)
    });
}

/// A closure's signature made generic over the tape's lifetime (a closure stored in a `let` is not).
fn higher_ranked<F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>>(f: F) -> F {
    f
}

/// `|a - b| <= 1e-10 (1 + |b|)` entrywise over all tensors.
fn agree(what: &str, a: &[Tensor<f64>], b: &[Tensor<f64>]) -> Result<(), String> {
    for (ta, tb) in a.iter().zip(b) {
        for (x, y) in ta.as_slice().iter().zip(tb.as_slice()) {
            if (x - y).abs() > 1e-10 * (1.0 + y.abs()) || x.is_nan() != y.is_nan() {
                return Err(format!("{what}: {x} vs {y}"));
            }
        }
    }
    Ok(())
}

#[test]
fn order_2_the_three_hvp_modes_and_jvp_of_jvp_agree() {
    // On s(x) = <f(x), w> + 0.5 |f(x)|^2 with a random direction v in every input: forward over
    // reverse (checked against differences above) against reverse over forward, reverse over
    // reverse, and the second directional derivative by forward over forward, vᵀ H v.
    run_table("order 2, modes", |r, xs| {
        let f = r.f;
        let mut rng = StdRng::seed_from_u64(77);
        let w = {
            let tape = Tape::new();
            let vars: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
            Tensor::randn(&f(&vars).shape(), 0.0, 1.0, &mut rng)
        };
        let s = higher_ranked(|x| {
            let y = f(x);
            (y * y.constant_like(w.clone())).sum() + y.square().sum() * 0.5
        });
        let vs: Vec<_> = xs.iter().map(|x| Tensor::randn(x.shape(), 0.0, 1.0, &mut rng)).collect();
        let fr = hvp_many_with(HvpMode::ForwardOverReverse, s, xs, &vs);
        agree("reverse over forward", &hvp_many_with(HvpMode::ReverseOverForward, s, xs, &vs), &fr)?;
        agree("reverse over reverse", &hvp_many_with(HvpMode::ReverseOverReverse, s, xs, &vs), &fr)?;
        // jvp of jvp: the tangent sweep over the recorded tangent of s.
        let tape = Tape::new();
        let vars: Vec<_> = xs.iter().map(|x| tape.var(x.clone())).collect();
        let ts: Vec<_> = vs.iter().map(|v| tape.constant(v.clone())).collect();
        for (x, t) in vars.iter().zip(&ts) {
            tape.set_tangent(*x, *t).unwrap();
        }
        let ds = s(&vars).tangent().expect("s depends on x");
        let d2s = tape.jvp(&[ds], &vars, &ts, false).map_err(|e| e.to_string())?.value(0).item();
        let vhv: f64 = fr
            .iter()
            .zip(&vs)
            .map(|(h, v)| h.as_slice().iter().zip(v.as_slice()).map(|(a, b)| a * b).sum::<f64>())
            .sum();
        agree("jvp of jvp", &[Tensor::scalar(d2s)], &[Tensor::scalar(vhv)])?;
        if tape.ops_without_jvp().is_empty() {
            Ok(String::new())
        } else {
            Err(format!("ops without a JVP rule of their own: {:?}", tape.ops_without_jvp()))
        }
    });
}

/// `sin` with a reverse and a forward rule each scaled by its own factor: a planted bug.
struct PlantedSin {
    reverse: f64,
    forward: f64,
}

impl wengert_autodiff::Op<f64> for PlantedSin {
    fn name(&self) -> &'static str {
        "planted_sin"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> wengert_autodiff::Result<Tensor<f64>> {
        Ok(wengert_autodiff::kernels::map(x[0], f64::sin))
    }
    fn backward<'t>(
        &self,
        x: &[Var<'t, f64>],
        _: Var<'t, f64>,
        g: Var<'t, f64>,
        _: &[bool],
    ) -> wengert_autodiff::InputGrads<'t, f64> {
        [Some(g * x[0].cos() * self.reverse)].into_iter().collect()
    }
    fn jvp<'t>(&self, x: &[Var<'t, f64>], _: Var<'t, f64>, t: &[Option<Var<'t, f64>>]) -> Option<Var<'t, f64>> {
        t[0].map(|t| t * x[0].cos() * self.forward)
    }
}

fn planted(reverse: f64, forward: f64) -> impl for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64> {
    move |x| x[0].tape().apply(PlantedSin { reverse, forward }, &[x[0]]).unwrap()
}

#[test]
fn a_rule_wrong_by_one_part_in_a_million_fails_the_table_checks() {
    let mut rng = StdRng::seed_from_u64(5);
    let xs = [sample(&[2, 3], Real, &mut rng)];
    let cfg = GradCheckConfig::strict();
    let (right, wrong) = (1.0, 1.0 + 1e-6);
    // The right rules pass, each wrong one fails its check.
    assert!(gradcheck(planted(right, right), &xs, &cfg).is_ok());
    assert!(jvp_check(planted(right, right), &xs, &cfg).is_ok());
    assert!(gradcheck(planted(wrong, right), &xs, &cfg).is_err(), "reverse rule off by 1e-6 passed");
    assert!(jvp_check(planted(right, wrong), &xs, &cfg).is_err(), "forward rule off by 1e-6 passed");
    // Even when both are wrong alike, the differences catch it.
    assert!(jvp_check(planted(wrong, wrong), &xs, &cfg).is_err(), "both rules off by 1e-6 passed");
    // At order 2 the forward rule runs over the backward graph: wrong second derivatives fail too.
    let sq = |r: f64, f: f64| higher_ranked(move |x| planted(r, f)(x).square().sum());
    assert!(hvp_check(sq(right, right), &xs, &cfg).is_ok());
    assert!(hvp_check(sq(wrong, wrong), &xs, &cfg).is_err(), "second derivative off by 1e-6 passed");
    // The PyTorch defaults (rtol 1e-3) would have let it through: the strictness is what catches it.
    assert!(gradcheck(planted(wrong, right), &xs, &GradCheckConfig::default()).is_ok());
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
