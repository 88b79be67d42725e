//! The lecture's badly conditioned quadratic `L = 0.1 w1^2 + 2 w2^2` (gradient `(0.2 w1, 4 w2)`, curvatures
//! 0.2 and 4): gradient descent with one learning rate for both axes creeps along `w1` when the rate suits
//! `w2` (0.01), oscillates in `w2` while converging when it is nearly too large (0.48: factor
//! `1 - 4 * 0.48 = -0.92` per step), and diverges above `2 / 4 = 0.5` (0.51: factor -1.04). Momentum and the
//! adaptive methods converge.

use wengert_autodiff::{Tape, Tensor};
use wengert_nn::{Bound, Grads, Param};
use wengert_optim::first_order::*;
use wengert_optim::schedule::{InverseTime, Scheduler};

fn start() -> Vec<Param<f64>> {
    vec![Param::new(Tensor::from_vec(vec![1.0, 1.0], &[2]))]
}

/// `(L, dL/dw)` from the tape.
// `&Vec` because `step_look_ahead` passes the model type itself to the gradient closure
#[allow(clippy::ptr_arg)]
fn loss_and_grad(p: &Vec<Param<f64>>) -> (f64, Grads<f64>) {
    let tape = Tape::new();
    let b = Bound::new(&tape, p);
    let w = b.var(&p[0]);
    let c = tape.constant(Tensor::from_vec(vec![0.1, 2.0], &[2]));
    let l = (c * w.square()).sum();
    (l.value().item(), b.grad(l))
}

fn w(p: &[Param<f64>]) -> [f64; 2] {
    let s = p[0].value().as_slice();
    [s[0], s[1]]
}

/// Runs `steps` steps and returns the iterates `w^1 ... w^steps` and losses `L(w^0) ... L(w^{steps-1})`.
fn trajectory(opt: &mut dyn Optimizer<f64>, steps: usize) -> (Vec<[f64; 2]>, Vec<f64>) {
    let mut p = start();
    let (mut ws, mut ls) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let (l, g) = loss_and_grad(&p);
        opt.step(&mut p, &g).unwrap();
        ws.push(w(&p));
        ls.push(l);
    }
    (ws, ls)
}

#[test]
fn gradient_descent_creeps_with_a_small_rate() {
    let (ws, ls) = trajectory(&mut Sgd::new(SgdConfig::new(0.01)), 200);
    assert!(ls.windows(2).all(|l| l[1] < l[0]), "monotone decrease");
    // w2 is done (0.96^200 = 2.8e-4) but w1 has only crept from 1 to 0.998^200 = 0.670
    assert!(ws[199][1].abs() < 1e-3);
    assert!((ws[199][0] - 0.998f64.powi(200)).abs() < 1e-12 && ws[199][0] > 0.6);
}

#[test]
fn gradient_descent_oscillates_but_converges_at_048() {
    let (ws, _) = trajectory(&mut Sgd::new(SgdConfig::new(0.48)), 200);
    // w2 flips sign on every step while shrinking by 0.92
    for k in 1..200 {
        assert!(ws[k][1] * ws[k - 1][1] < 0.0, "w2 did not flip at step {k}");
        assert!(ws[k][1].abs() < ws[k - 1][1].abs());
    }
    assert!(ws[199][0].abs() < 1e-6 && ws[199][1].abs() < 1e-6, "{:?}", ws[199]);
}

#[test]
fn gradient_descent_diverges_at_051() {
    let (ws, ls) = trajectory(&mut Sgd::new(SgdConfig::new(0.51)), 200);
    assert!(ls[199] > ls[0] && ls[199] > ls[198]);
    // |w2| grows by 1.04 per step: 1.04^200 = 2550
    assert!(ws[199][1].abs() > 1e3, "{:?}", ws[199]);
}

#[test]
fn momentum_and_adaptive_methods_converge() {
    let mut rows: Vec<(&str, Box<dyn Optimizer<f64>>)> = vec![
        ("sgd momentum", Box::new(Sgd::new(SgdConfig::new(0.05).momentum(0.9)))),
        ("sgd nesterov", Box::new(Sgd::new(SgdConfig::new(0.05).momentum(0.9).nesterov(true)))),
        ("momentum", Box::new(Momentum::new(MomentumConfig::new(0.05, 0.9)))),
        ("adagrad", Box::new(Adagrad::new(AdagradConfig::new(0.5)))),
        ("rmsprop", Box::new(RmsProp::new(RmsPropConfig::new(1e-3)))),
        (
            "rmsprop centred momentum",
            Box::new(RmsProp::new(RmsPropConfig { centered: true, momentum: 0.9, ..RmsPropConfig::new(1e-3) })),
        ),
        ("adam", Box::new(Adam::new(AdamConfig::new(0.05)))),
        ("adamw", Box::new(AdamW::new(AdamWConfig { weight_decay: 0.0, ..AdamWConfig::new(0.05) }))),
        ("adamax", Box::new(Adamax::new(AdamaxConfig::new(0.05)))),
        ("nadam", Box::new(NAdam::new(NAdamConfig::new(0.05)))),
        ("adadelta", Box::new(Adadelta::new(AdadeltaConfig::new(0.3)))),
    ];
    // plain gradient descent at the momentum run's rate is still far away after 2000 steps along w1
    let (gd, _) = trajectory(&mut Sgd::new(SgdConfig::new(0.05)), 2000);
    assert!(gd[1999][0] > 1e-9);
    for (name, opt) in &mut rows {
        let (ws, _) = trajectory(opt.as_mut(), 2000);
        let last = ws[1999];
        println!("{name:14} {last:?}");
        assert!(last[0].abs() < 1e-3 && last[1].abs() < 1e-3, "{name} ended at {last:?}");
        if name.starts_with("sgd") || *name == "momentum" {
            assert!(last[0].abs() < 1e-6 * gd[1999][0], "{name}: momentum is not faster than gradient descent");
        }
    }
}

/// The lecture's normalised gradient moves both axes by the same distance, so the flat axis is not slower.
#[test]
fn sign_descent_moves_both_axes_alike() {
    let mut opt = SignDescent::new(SignDescentConfig::new(0.05));
    let mut sched = Scheduler::new(InverseTime::new(0.05, 0.01));
    let mut p = start();
    for k in 0..2000 {
        let (_, g) = loss_and_grad(&p);
        opt.step(&mut p, &g).unwrap();
        sched.step(&mut opt);
        if k < 19 {
            // 20 steps of 0.05 bring both coordinates from 1 to 0 at the same pace
            let [a, b] = w(&p);
            assert_eq!(a, b);
        }
    }
    let [a, b] = w(&p);
    assert!(a.abs() < 1e-3 && b.abs() < 1e-3, "{a} {b}");
}
