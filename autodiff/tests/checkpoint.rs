//! Gradient checkpointing: same values and gradients as the plain run, bit for bit, at orders 1 and 2
//! and in forward mode; the block's intermediates are not kept.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::{checkpoint, Tape, Tensor, Var};

/// One MLP block, `tanh(W h + b)`, with `h: [n, 8]`, `W: [8, 8]`, `b: [8]`.
fn block<'s>(x: &[Var<'s, f64>]) -> Var<'s, f64> {
    x[0].matmul_t(x[1], false, true).add(x[2]).tanh()
}

/// A chain of `k` blocks and a loss, with or without checkpoints; returns the loss.
fn chain<'t>(h: Var<'t, f64>, params: &[(Var<'t, f64>, Var<'t, f64>)], ckpt: bool) -> Var<'t, f64> {
    let mut h = h;
    for &(w, b) in params {
        h = if ckpt { checkpoint(block, &[h, w, b]) } else { block(&[h, w, b]) };
    }
    h.square().mean()
}

/// Each block's `(W, b)`.
type Params<'t> = Vec<(Var<'t, f64>, Var<'t, f64>)>;

fn setup(tape: &Tape<f64>, k: usize) -> (Var<'_, f64>, Params<'_>) {
    let mut rng = StdRng::seed_from_u64(3);
    let h = tape.constant(Tensor::randn(&[4, 8], 0.0, 1.0, &mut rng));
    let params = (0..k)
        .map(|_| {
            (tape.var(Tensor::randn(&[8, 8], 0.0, 0.4, &mut rng)), tape.var(Tensor::randn(&[8], 0.0, 0.1, &mut rng)))
        })
        .collect();
    (h, params)
}

fn flat<'t>(params: &[(Var<'t, f64>, Var<'t, f64>)]) -> Vec<Var<'t, f64>> {
    params.iter().flat_map(|&(w, b)| [w, b]).collect()
}

#[test]
fn gradients_are_bit_identical_and_intermediates_are_not_kept() {
    let (plain, ckpt) = (Tape::new(), Tape::new());
    let (h0, p0) = setup(&plain, 6);
    let (h1, p1) = setup(&ckpt, 6);
    let (l0, l1) = (chain(h0, &p0, false), chain(h1, &p1, true));
    assert_eq!(l0.item().to_bits(), l1.item().to_bits());
    // 6 blocks of 3 nodes (matmul, add, tanh) against one checkpoint node each.
    assert_eq!(plain.len() - ckpt.len(), 6 * 2, "{} nodes with checkpoints, {} without", ckpt.len(), plain.len());
    let g0 = plain.grad(l0, &flat(&p0)).values();
    let g1 = ckpt.grad(l1, &flat(&p1)).values();
    assert_eq!(g0, g1);
}

#[test]
fn second_order_through_checkpoints_matches_the_plain_run() {
    // H v by reverse over reverse (the recomputation is recorded) and by forward over reverse.
    let (plain, ckpt) = (Tape::new(), Tape::new());
    let (h0, p0) = setup(&plain, 3);
    let (h1, p1) = setup(&ckpt, 3);
    let (x0, x1) = (flat(&p0), flat(&p1));
    let v: Vec<Tensor<f64>> = {
        let mut rng = StdRng::seed_from_u64(9);
        x0.iter().map(|x| Tensor::randn(&x.shape(), 0.0, 1.0, &mut rng)).collect()
    };
    let hvp = |tape: &Tape<f64>, l: Var<'_, f64>, xs: &[Var<'_, f64>]| {
        let g = tape.grad_graph(l, xs);
        let outs: Vec<_> = (0..xs.len()).map(|i| g.dense(i)).collect();
        let seeds: Vec<_> = v.iter().map(|t| tape.constant(t.clone())).collect();
        let ror = tape.vjp_many(&outs, &seeds, xs, false).unwrap().values();
        let tangents: Vec<_> = v.iter().map(|t| tape.constant(t.clone())).collect();
        let forr = tape.jvp(&outs, xs, &tangents, false).unwrap().values();
        (ror, forr)
    };
    let (r0, f0) = hvp(&plain, chain(h0, &p0, false), &x0);
    let (r1, f1) = hvp(&ckpt, chain(h1, &p1, true), &x1);
    for (a, b) in r0.iter().chain(&f0).zip(r1.iter().chain(&f1)) {
        for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
            assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
    assert!(ckpt.ops_without_jvp().is_empty());
}

#[test]
fn forward_mode_through_checkpoints_matches_the_plain_run() {
    let (plain, ckpt) = (Tape::new(), Tape::new());
    let (h0, p0) = setup(&plain, 3);
    let (h1, p1) = setup(&ckpt, 3);
    let t = Tensor::full(&[8, 8], 0.25);
    plain.set_tangent(p0[0].0, plain.constant(t.clone())).unwrap();
    ckpt.set_tangent(p1[0].0, ckpt.constant(t)).unwrap();
    let (l0, l1) = (chain(h0, &p0, false), chain(h1, &p1, true));
    let (d0, d1) = (l0.tangent().unwrap().item(), l1.tangent().unwrap().item());
    assert!((d0 - d1).abs() <= 1e-14 * (1.0 + d0.abs()), "{d0} vs {d1}");
}
