//! Gradient clipping by global norm (as `torch.nn.utils.clip_grad_norm_`) and by value.

use wengert_autodiff::Tensor;
use wengert_nn::{Grads, Param};
use wengert_optim::clip::{clip_grad_norm, clip_grad_value};
use wengert_optim::first_order::OptimError;

fn setup(g0: Vec<f64>, g1: Vec<f64>) -> (Vec<Param<f64>>, Grads<f64>) {
    let ps = vec![Param::new(Tensor::zeros(&[g0.len()])), Param::new(Tensor::zeros(&[g1.len()]))];
    let mut g = Grads::new();
    let (n0, n1) = (g0.len(), g1.len());
    g.insert(&ps[0], Tensor::from_vec(g0, &[n0]));
    g.insert(&ps[1], Tensor::from_vec(g1, &[n1]));
    (ps, g)
}

#[test]
fn norm_is_global_and_scaling_only_above_the_maximum() {
    // ||(1, 2, 2, 4)|| = 5
    let (ps, mut g) = setup(vec![1.0, 2.0], vec![2.0, 4.0]);
    assert_eq!(clip_grad_norm(&ps, &mut g, 10.0).unwrap(), 5.0);
    assert_eq!(g.get(&ps[1]).unwrap().as_slice(), &[2.0, 4.0]); // below the maximum: untouched
    assert_eq!(clip_grad_norm(&ps, &mut g, 2.5).unwrap(), 5.0);
    let c = 2.5 / (5.0 + 1e-6);
    assert_eq!(g.get(&ps[0]).unwrap().as_slice(), &[c, 2.0 * c]);
    assert!((clip_grad_norm(&ps, &mut g, 100.0).unwrap() - 2.5).abs() < 1e-5);
}

#[test]
fn frozen_parameters_do_not_count() {
    let (mut ps, mut g) = setup(vec![3.0], vec![4.0]);
    ps[1].set_frozen(true);
    assert_eq!(clip_grad_norm(&ps, &mut g, 1.0).unwrap(), 3.0);
    assert_eq!(g.get(&ps[1]).unwrap().as_slice(), &[4.0]);
}

#[test]
fn non_finite_gradients_are_refused_by_name_and_nothing_changes() {
    let (ps, mut g) = setup(vec![1.0, 2.0], vec![f64::NAN, 4.0]);
    let before = g.get(&ps[0]).unwrap().clone();
    assert_eq!(clip_grad_norm(&ps, &mut g, 0.1), Err(OptimError::NonFinite { param: "1".into() }));
    assert_eq!(g.get(&ps[0]).unwrap(), &before);
    assert_eq!(clip_grad_value(&ps, &mut g, 0.1), Err(OptimError::NonFinite { param: "1".into() }));
    assert_eq!(g.get(&ps[0]).unwrap(), &before);
}

#[test]
fn clip_by_value_clamps_each_element() {
    let (ps, mut g) = setup(vec![-3.0, 0.5], vec![f64::INFINITY, -0.1]);
    clip_grad_value(&ps, &mut g, 1.0).unwrap();
    assert_eq!(g.get(&ps[0]).unwrap().as_slice(), &[-1.0, 0.5]);
    assert_eq!(g.get(&ps[1]).unwrap().as_slice(), &[1.0, -0.1]);
}
