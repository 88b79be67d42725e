//! Cost of an exact Hessian-vector product relative to a gradient, on the loss of a
//! 784-256-256-10 tanh MLP with softmax cross-entropy, batch 128, `f32`.
//!
//! The workload of `../shared/anchors/hvp_ratio.py` (PyTorch reverse-over-reverse
//! 2.6x, JAX jit 1.4x). The HVP is reverse-over-reverse: `g = grad_graph(L, θ)`, then
//! `Hv = grad(<g, v>, θ)`. Both timings include the forward pass and a fresh tape, as a
//! user pays them; the ratio is `hvp / grad`. Before timing, the gradient is checked against a central
//! difference of the loss and the HVP against a central difference of the gradient.
//!
//! The same product by forward over reverse (`hvp_fwd_over_rev`: `v` seeded as `θ`'s tangent, carried
//! through the forward and the first-order backward sweep) and by reverse over forward
//! (`hvp_rev_over_fwd`), through `functional::hvp_many_with`; each is checked against the
//! reverse-over-reverse product before it is timed. The fastest is `functional::hvp`'s default.
//!
//! A further timing, `hvp_cached_gradient_graph`, is the cost of each further product at the
//! same point once the gradient graph is recorded (as Newton-CG and trust-region CG use
//! it: one gradient, many `Hv`): only `<g, v>` and the second backward sweep, after which
//! [`Tape::truncate`] drops what that product recorded.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::Rng;
use std::hint::black_box;
use std::time::Duration;
use wengert::autodiff::functional::{hvp_many_with, HvpMode};
use wengert::prelude::*;

const SIZES: [usize; 4] = [784, 256, 256, 10];
const BATCH: usize = 128;

struct Problem {
    params: Vec<Tensor<f32>>,
    dirs: Vec<Tensor<f32>>,
    x: Tensor<f32>,
    labels: Vec<usize>,
}

impl Problem {
    fn new(rng: &mut impl Rng) -> Self {
        let (mut params, mut dirs) = (Vec::new(), Vec::new());
        for w in SIZES.windows(2) {
            let bound = 1.0 / (w[0] as f32).sqrt();
            for shape in [vec![w[1], w[0]], vec![w[1]]] {
                params.push(Tensor::rand_uniform(&shape, -bound, bound, rng));
                dirs.push(Tensor::randn(&shape, 0.0, 1.0, rng));
            }
        }
        let x = Tensor::randn(&[BATCH, SIZES[0]], 0.0, 1.0, rng);
        let labels = (0..BATCH).map(|_| rng.random_range(0..SIZES[3])).collect();
        Problem { params, dirs, x, labels }
    }

    /// Mean cross-entropy of the tanh MLP at `theta`.
    fn loss<'t>(&self, tape: &'t Tape<f32>, theta: &[Var<'t, f32>]) -> Var<'t, f32> {
        let mut h = tape.constant(self.x.clone());
        let layers = theta.len() / 2;
        for l in 0..layers {
            h = h.matmul_t(theta[2 * l], false, true) + theta[2 * l + 1];
            if l + 1 < layers {
                h = h.tanh();
            }
        }
        -h.log_softmax(-1).pick(&self.labels).mean()
    }

    /// The loss at `params`, without derivatives.
    fn value(&self) -> f32 {
        let tape = Tape::new();
        let theta: Vec<_> = self.params.iter().map(|p| tape.constant(p.clone())).collect();
        self.loss(&tape, &theta).item()
    }

    fn grad(&self) -> Vec<Tensor<f32>> {
        let tape = Tape::new();
        let theta: Vec<_> = self.params.iter().map(|p| tape.var(p.clone())).collect();
        tape.grad(self.loss(&tape, &theta), &theta).values()
    }

    fn hvp_by(&self, mode: HvpMode) -> Vec<Tensor<f32>> {
        hvp_many_with(mode, |theta| self.loss(theta[0].tape(), theta), &self.params, &self.dirs)
    }

    fn hvp(&self) -> Vec<Tensor<f32>> {
        let tape = Tape::new();
        let theta: Vec<_> = self.params.iter().map(|p| tape.var(p.clone())).collect();
        let g = tape.grad_graph(self.loss(&tape, &theta), &theta);
        hvp_with(&tape, &theta, &g, &self.dirs)
    }
}

/// `H v` from a recorded gradient graph `g`: the gradient of `<g, v>`.
fn hvp_with<'t>(
    tape: &'t Tape<f32>,
    theta: &[Var<'t, f32>],
    g: &wengert::autodiff::Gradients<'t, f32>,
    dirs: &[Tensor<f32>],
) -> Vec<Tensor<f32>> {
    // H v = sum_i v_i^T dg_i/dtheta, one backward sweep seeded with v at every gradient.
    let outs: Vec<_> = (0..dirs.len()).map(|i| g.dense(i)).collect();
    let seeds: Vec<_> = dirs.iter().map(|d| tape.constant(d.clone())).collect();
    tape.vjp_many(&outs, &seeds, theta, false).expect("directions have the parameters' shapes").values()
}

fn bench(c: &mut Criterion) {
    let p = Problem::new(&mut rand::rng());
    // The HVP must be a derivative of the gradient: compare with a central difference of it.
    let hv = p.hvp();
    // A step of norm 1e-2 along v: small enough to stay in the quadratic regime, large
    // enough for f32 round-off (measured relative error ~1e-3).
    let vnorm = p.dirs.iter().flat_map(|d| d.to_vec()).map(|a| a * a).sum::<f32>().sqrt();
    let eps = 1e-2 / vnorm;
    // The problem at `theta + s v`.
    let moved = |s: f32| {
        let params = p.params.iter().zip(&p.dirs).map(|(t, d)| {
            Tensor::from_vec(t.as_slice().iter().zip(d.as_slice()).map(|(a, b)| a + s * b).collect(), t.shape())
        });
        Problem { params: params.collect(), dirs: p.dirs.clone(), x: p.x.clone(), labels: p.labels.clone() }
    };
    // And the gradient a derivative of the loss: <grad L, v> against a central difference along v, with a
    // step of norm 0.1 (the f32 loss carries ~1e-7 relative round-off, which a shorter step would amplify).
    let dot = |a: &Tensor<f32>, b: &Tensor<f32>| a.as_slice().iter().zip(b.as_slice()).map(|(a, b)| a * b).sum::<f32>();
    let slope: f32 = p.grad().iter().zip(&p.dirs).map(|(g, d)| dot(g, d)).sum();
    let fd_slope = (moved(10.0 * eps).value() - moved(-10.0 * eps).value()) / (20.0 * eps);
    eprintln!("grad check: <g, v> = {slope}, central difference {fd_slope}");
    assert!((slope - fd_slope).abs() <= 0.02 * slope.abs().max(1.0), "gradient disagrees with the loss");
    let (gp, gm) = (moved(eps).grad(), moved(-eps).grad());
    let fd: Vec<f32> = gp
        .iter()
        .zip(&gm)
        .flat_map(|(a, b)| {
            a.as_slice().iter().zip(b.as_slice()).map(|(a, b)| (a - b) / (2.0 * eps)).collect::<Vec<_>>()
        })
        .collect();
    let ours: Vec<f32> = hv.iter().flat_map(|t| t.to_vec()).collect();
    let err = fd.iter().zip(&ours).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
    let norm = ours.iter().map(|a| a * a).sum::<f32>().sqrt();
    eprintln!("hvp check: relative error {}", err / norm);
    assert!(err <= 0.05 * norm, "HVP disagrees with a finite difference of the gradient: {err} vs norm {norm}");

    for mode in [HvpMode::ForwardOverReverse, HvpMode::ReverseOverForward] {
        let other: Vec<f32> = p.hvp_by(mode).iter().flat_map(|t| t.to_vec()).collect();
        let diff = other.iter().zip(&ours).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
        assert!(diff <= 1e-4 * norm, "{mode:?} differs from reverse over reverse: {diff} vs norm {norm}");
    }

    let mut g = c.benchmark_group("hvp_ratio");
    g.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    g.bench_function("grad_tanh_mlp_b128_f32", |b| b.iter(|| black_box(p.grad())));
    g.bench_function("hvp_rev_over_rev_tanh_mlp_b128_f32", |b| b.iter(|| black_box(p.hvp())));
    g.bench_function("hvp_fwd_over_rev_tanh_mlp_b128_f32", |b| {
        b.iter(|| black_box(p.hvp_by(HvpMode::ForwardOverReverse)))
    });
    g.bench_function("hvp_rev_over_fwd_tanh_mlp_b128_f32", |b| {
        b.iter(|| black_box(p.hvp_by(HvpMode::ReverseOverForward)))
    });
    g.bench_function("hvp_cached_gradient_graph_tanh_mlp_b128_f32", |b| {
        let tape = Tape::new();
        let theta: Vec<_> = p.params.iter().map(|t| tape.var(t.clone())).collect();
        let grads = tape.grad_graph(p.loss(&tape, &theta), &theta);
        let mark = tape.len();
        let first = hvp_with(&tape, &theta, &grads, &p.dirs);
        tape.truncate(mark);
        let diff =
            first.iter().zip(&hv).flat_map(|(a, b)| a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| (x - y).abs()));
        assert!(diff.fold(0.0_f32, f32::max) <= 1e-5 * norm, "a product from the cached graph differs");
        b.iter(|| {
            let hv = hvp_with(&tape, &theta, &grads, &p.dirs);
            tape.truncate(mark);
            black_box(hv)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
