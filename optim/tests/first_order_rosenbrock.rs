//! Every first-order optimiser reaches the minimum (1, 1) of the 2-D Rosenbrock function
//! `f = (1 - x)^2 + 100 (y - x^2)^2` from (-1.2, 1) within a step ceiling and tolerance (max-norm distance);
//! the table is reproduced in the docs of `wengert_optim::first_order`. Ceilings are about 10% above the
//! measured step counts, so a regression that slows an optimiser down fails the test.

use wengert_autodiff::{Tape, Tensor};
use wengert_nn::{Bound, Grads, Param};
use wengert_optim::first_order::*;
use wengert_optim::schedule::{InverseTime, Scheduler};

/// Closed-form gradient (2(x - 1) - 400 x (y - x^2), 200 (y - x^2)).
// `&Vec` because `step_look_ahead` passes the model type itself to the gradient closure
#[allow(clippy::ptr_arg)]
fn grads(p: &Vec<Param<f64>>) -> Grads<f64> {
    let w = p[0].value().as_slice();
    let (x, y) = (w[0], w[1]);
    let mut g = Grads::new();
    g.insert(&p[0], Tensor::from_vec(vec![2.0 * (x - 1.0) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)], &[2]));
    g
}

fn distance(p: &[Param<f64>]) -> f64 {
    let w = p[0].value().as_slice();
    (w[0] - 1.0).abs().max((w[1] - 1.0).abs())
}

enum Driver {
    Plain(Box<dyn Optimizer<f64>>),
    Nesterov(Nesterov<f64>),
    RmsPropNesterov(RmsPropNesterov<f64>),
    Sign(SignDescent<f64>, Scheduler<InverseTime>),
}

impl Driver {
    fn step(&mut self, p: &mut Vec<Param<f64>>) {
        match self {
            Driver::Plain(o) => {
                let g = grads(p);
                o.step(p, &g).unwrap()
            }
            Driver::Nesterov(o) => drop(o.step_look_ahead(p, grads).unwrap()),
            Driver::RmsPropNesterov(o) => drop(o.step_look_ahead(p, grads).unwrap()),
            Driver::Sign(o, s) => {
                let g = grads(p);
                o.step(p, &g).unwrap();
                s.step(o);
            }
        }
    }
}

/// Steps until within `tol` of (1, 1); returns the number of steps, or `None` after `ceiling` steps.
fn steps_to_tol(mut d: Driver, ceiling: usize, tol: f64) -> Option<usize> {
    let mut p = vec![Param::new(Tensor::from_vec(vec![-1.2, 1.0], &[2]))];
    for k in 0..=ceiling {
        if distance(&p) < tol {
            return Some(k);
        }
        d.step(&mut p);
    }
    None
}

#[test]
fn the_closed_form_gradient_is_the_tapes() {
    let p = vec![Param::new(Tensor::from_vec(vec![-1.2, 1.0], &[2]))];
    let tape = Tape::new();
    let b = Bound::new(&tape, &p);
    let w = b.var(&p[0]);
    let (x, y) = (w.slice(0, 0..1), w.slice(0, 1..2));
    let f = ((-x + 1.0).square() + (y - x.square()).square() * 100.0).sum();
    let g = b.grad(f);
    let tape_g = g.get(&p[0]).unwrap().to_vec();
    let closed = grads(&p).get(&p[0]).unwrap().to_vec();
    for (a, c) in tape_g.iter().zip(&closed) {
        assert!((a - c).abs() < 1e-12, "{tape_g:?} vs {closed:?}");
    }
}

#[test]
fn every_optimiser_reaches_the_rosenbrock_minimum() {
    let plain = |o: Box<dyn Optimizer<f64>>| Driver::Plain(o);
    let rows: Vec<(&str, Driver, usize, f64)> = vec![
        ("sgd lr 2e-3", plain(Box::new(Sgd::new(SgdConfig::new(2e-3)))), 9_200, 1e-3),
        ("sgd momentum 0.9 lr 5e-4", plain(Box::new(Sgd::new(SgdConfig::new(5e-4).momentum(0.9)))), 3_600, 1e-3),
        (
            "sgd nesterov 0.9 lr 5e-4",
            plain(Box::new(Sgd::new(SgdConfig::new(5e-4).momentum(0.9).nesterov(true)))),
            3_600,
            1e-3,
        ),
        (
            "momentum (Alg. 8.2) 0.9 lr 5e-4",
            plain(Box::new(Momentum::new(MomentumConfig::new(5e-4, 0.9)))),
            3_600,
            1e-3,
        ),
        (
            "nesterov look-ahead 0.9 lr 5e-4",
            Driver::Nesterov(Nesterov::new(NesterovConfig::new(5e-4, 0.9))),
            3_600,
            1e-3,
        ),
        ("adagrad lr 0.5", plain(Box::new(Adagrad::new(AdagradConfig::new(0.5)))), 9_700, 1e-3),
        ("rmsprop lr 1e-3", plain(Box::new(RmsProp::new(RmsPropConfig::new(1e-3)))), 9_000, 1e-3),
        (
            "rmsprop centred lr 1e-3",
            plain(Box::new(RmsProp::new(RmsPropConfig { centered: true, ..RmsPropConfig::new(1e-3) }))),
            7_800,
            1e-3,
        ),
        (
            "rmsprop momentum 0.9 lr 1e-3",
            plain(Box::new(RmsProp::new(RmsPropConfig { momentum: 0.9, ..RmsPropConfig::new(1e-3) }))),
            1_250,
            1e-3,
        ),
        (
            "rmsprop nesterov lr 1e-3",
            Driver::RmsPropNesterov(RmsPropNesterov::new(RmsPropNesterovConfig::new(1e-3))),
            1_200,
            1e-3,
        ),
        ("adam lr 0.1", plain(Box::new(Adam::new(AdamConfig::new(0.1)))), 1_350, 1e-3),
        ("adam amsgrad lr 0.1", plain(Box::new(Adam::new(AdamConfig::new(0.1).amsgrad(true)))), 1_750, 1e-3),
        (
            "adamw lr 0.1 weight_decay 1e-4",
            plain(Box::new(AdamW::new(AdamWConfig { weight_decay: 1e-4, ..AdamWConfig::new(0.1) }))),
            2_050,
            1e-3,
        ),
        ("adamax lr 0.1", plain(Box::new(Adamax::new(AdamaxConfig::new(0.1)))), 3_350, 1e-3),
        ("nadam lr 1e-2", plain(Box::new(NAdam::new(NAdamConfig::new(1e-2)))), 6_200, 1e-3),
        ("adadelta lr 1e-2", plain(Box::new(Adadelta::new(AdadeltaConfig::new(1e-2)))), 22_000, 1e-3),
        (
            "sign descent 1e-2 / (1 + 1e-2 k)",
            Driver::Sign(SignDescent::new(SignDescentConfig::new(1e-2)), Scheduler::new(InverseTime::new(1e-2, 1e-2))),
            121_000,
            1e-2,
        ),
    ];
    let mut failed = Vec::new();
    for (name, driver, ceiling, tol) in rows {
        let got = steps_to_tol(driver, ceiling, tol);
        println!("{name:40} ceiling {ceiling:7} tol {tol:e}: {got:?}");
        if got.is_none() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "did not reach the minimum within the ceiling: {failed:?}");
}
