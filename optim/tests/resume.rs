//! Save -> load -> continue is bit-identical to an uninterrupted run, for every optimiser and schedule.
//!
//! A small tanh network in `f32` trains with gradient clipping, an optimiser and a schedule. After `SPLIT`
//! steps the model, the optimiser (`optim.` prefix) and the schedule (`schedule.` prefix) are merged into one
//! `StateDict`, written with `wengert_nn::checkpoint::save` (safetensors; in memory for most pairs), read
//! back into a *fresh* model
//! (new parameter identities, zero values), optimiser and schedule, and training continues. The final
//! parameters must equal those of the uninterrupted run bit for bit.

use wengert_autodiff::{Tape, Tensor};
use wengert_nn::{checkpoint, Bound, Grads, Param, StateDict};
use wengert_optim::clip::clip_grad_norm;
use wengert_optim::first_order::*;
use wengert_optim::schedule::*;

const SPLIT: usize = 4;
const TOTAL: usize = 9;

/// Parameters `0` (3x6), `1` (6x1) and a frozen `2`.
fn model(zero: bool) -> Vec<Param<f32>> {
    let mut s = 7u64;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if zero {
            0.0
        } else {
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        }
    };
    let mut m = vec![
        Param::new(Tensor::from_vec((0..18).map(|_| next()).collect(), &[3, 6])),
        Param::new(Tensor::from_vec((0..6).map(|_| next()).collect(), &[6, 1])),
        Param::new(Tensor::from_vec(vec![next()], &[1])),
    ];
    m[2].set_frozen(true);
    m
}

/// Minibatch `k`: 5 inputs and targets from a fixed rule.
fn batch(k: usize) -> (Tensor<f32>, Tensor<f32>) {
    let x: Vec<f32> = (0..15).map(|i| (((i * 7 + k * 13) % 11) as f32 - 5.0) / 5.0).collect();
    let t: Vec<f32> = (0..5).map(|i| (x[3 * i] - 2.0 * x[3 * i + 1] * x[3 * i + 2]).sin()).collect();
    (Tensor::from_vec(x, &[5, 3]), Tensor::from_vec(t, &[5, 1]))
}

// `&Vec` because `step_look_ahead` passes the model type itself to the gradient closure
#[allow(clippy::ptr_arg)]
fn loss_and_grads(m: &Vec<Param<f32>>, k: usize) -> (f32, Grads<f32>) {
    let (x, t) = batch(k);
    let tape = Tape::new();
    let b = Bound::new(&tape, m);
    let h = tape.constant(x).matmul(b.var(&m[0])).tanh();
    let y = h.matmul(b.var(&m[1])) + b.var(&m[2]);
    let loss = (y - tape.constant(t)).square().mean();
    (loss.value().item(), b.grad(loss))
}

enum Opt {
    Plain(Box<dyn Optimizer<f32>>),
    Nesterov(Nesterov<f32>),
    RmsPropNesterov(RmsPropNesterov<f32>),
}

impl Opt {
    fn dyn_mut(&mut self) -> &mut dyn Optimizer<f32> {
        match self {
            Opt::Plain(o) => o.as_mut(),
            Opt::Nesterov(o) => o,
            Opt::RmsPropNesterov(o) => o,
        }
    }

    /// One step at minibatch `k` (gradients clipped to norm 0.5); returns the loss.
    fn step(&mut self, m: &mut Vec<Param<f32>>, k: usize) -> f32 {
        let clipped = |p: &Vec<Param<f32>>| {
            let (l, mut g) = loss_and_grads(p, k);
            clip_grad_norm(p, &mut g, 0.5).unwrap();
            (l, g)
        };
        let mut loss = 0.0;
        let mut f = |p: &Vec<Param<f32>>| {
            let (l, g) = clipped(p);
            loss = l;
            g
        };
        match self {
            Opt::Plain(o) => {
                let g = f(m);
                o.step(m, &g).unwrap()
            }
            Opt::Nesterov(o) => drop(o.step_look_ahead(m, f).unwrap()),
            Opt::RmsPropNesterov(o) => drop(o.step_look_ahead(m, f).unwrap()),
        }
        loss
    }
}

fn optimisers() -> Vec<(&'static str, Opt)> {
    let p = |o: Box<dyn Optimizer<f32>>| Opt::Plain(o);
    vec![
        ("sgd", p(Box::new(Sgd::new(SgdConfig::new(0.1))))),
        (
            "sgd momentum groups",
            p(Box::new(
                Sgd::new(SgdConfig::new(0.1).momentum(0.9).dampening(0.1))
                    .with_group("1", SgdConfig::new(0.05).momentum(0.5)),
            )),
        ),
        ("sgd nesterov wd", p(Box::new(Sgd::new(SgdConfig::new(0.1).momentum(0.9).nesterov(true).weight_decay(1e-2))))),
        ("momentum", p(Box::new(Momentum::new(MomentumConfig::new(0.1, 0.9))))),
        ("nesterov", Opt::Nesterov(Nesterov::new(NesterovConfig::new(0.1, 0.9)))),
        (
            "adagrad",
            p(Box::new(Adagrad::new(AdagradConfig {
                lr_decay: 0.1,
                initial_accumulator_value: 0.1,
                ..AdagradConfig::new(0.1)
            }))),
        ),
        ("rmsprop", p(Box::new(RmsProp::new(RmsPropConfig::new(0.01))))),
        (
            "rmsprop centred momentum",
            p(Box::new(RmsProp::new(RmsPropConfig { centered: true, momentum: 0.9, ..RmsPropConfig::new(0.01) }))),
        ),
        ("rmsprop nesterov", Opt::RmsPropNesterov(RmsPropNesterov::new(RmsPropNesterovConfig::new(0.01)))),
        ("adam", p(Box::new(Adam::new(AdamConfig::new(0.01))))),
        (
            "adam amsgrad l2",
            p(Box::new(Adam::new(AdamConfig { weight_decay: 1e-2, ..AdamConfig::new(0.01).amsgrad(true) }))),
        ),
        ("adamw", p(Box::new(AdamW::new(AdamWConfig::new(0.01))))),
        ("adamax", p(Box::new(Adamax::new(AdamaxConfig::new(0.01))))),
        ("nadam", p(Box::new(NAdam::new(NAdamConfig::new(0.01))))),
        ("adadelta", p(Box::new(Adadelta::new(AdadeltaConfig::default())))),
        ("sign descent", p(Box::new(SignDescent::new(SignDescentConfig::new(0.01))))),
    ]
}

enum Sched {
    Closed(Scheduler<Box<dyn Schedule>>),
    Plateau(ReduceLrOnPlateau),
}

impl Sched {
    fn after_step(&mut self, loss: f32, opt: &mut dyn Optimizer<f32>) {
        match self {
            Sched::Closed(s) => s.step(opt),
            Sched::Plateau(p) => drop(p.step(loss as f64, opt)),
        }
    }
    fn state_dict(&self) -> StateDict<f32> {
        match self {
            Sched::Closed(s) => s.state_dict(),
            Sched::Plateau(p) => p.state_dict(),
        }
    }
    fn load_state_dict(&mut self, sd: &StateDict<f32>) {
        match self {
            Sched::Closed(s) => s.load_state_dict(sd).unwrap(),
            Sched::Plateau(p) => p.load_state_dict(sd).unwrap(),
        }
    }
}

fn schedules() -> Vec<(&'static str, Sched)> {
    let c = |s: Box<dyn Schedule>| Sched::Closed(Scheduler::new(s));
    vec![
        ("constant", c(Box::new(Constant::new(0.02)))),
        ("inverse time", c(Box::new(InverseTime::new(0.05, 0.5)))),
        ("step decay", c(Box::new(StepDecay::new(0.05, 0.5, 2)))),
        ("exponential", c(Box::new(Exponential::new(0.05, 0.8)))),
        ("inverse sqrt", c(Box::new(InverseSqrt::new(0.05, 0.7)))),
        ("linear", c(Box::new(LinearDecay::new(0.05, 0.001, 6)))),
        ("cosine", c(Box::new(CosineAnnealing::new(0.05, 0.0, 7)))),
        ("warmup", c(Box::new(LinearWarmup::new(0.05, 0.1, 3)))),
        (
            "sequential",
            c(Box::new(Sequential::new(
                vec![Box::new(LinearWarmup::new(0.05, 0.2, 3)), Box::new(CosineAnnealing::new(0.05, 0.001, 8))],
                vec![3],
            ))),
        ),
        (
            "plateau",
            Sched::Plateau(ReduceLrOnPlateau::new(PlateauConfig {
                patience: 0,
                factor: 0.5,
                threshold: 0.5,
                ..Default::default()
            })),
        ),
    ]
}

fn bits(m: &[Param<f32>]) -> Vec<u32> {
    m.iter().flat_map(|p| p.value().as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect()
}

#[test]
fn save_load_continue_is_bit_identical_for_every_optimiser_and_schedule() {
    let dir = std::env::temp_dir().join(format!("wengert-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    let n_opt = optimisers().len();
    let n_sched = schedules().len();
    for oi in 0..n_opt {
        for si in 0..n_sched {
            let (oname, mut opt) = optimisers().swap_remove(oi);
            let (sname, mut sched) = schedules().swap_remove(si);
            // uninterrupted
            let mut m = model(false);
            let start = bits(&m);
            if let Sched::Closed(s) = &sched {
                s.apply(opt.dyn_mut());
            }
            for k in 0..TOTAL {
                let l = opt.step(&mut m, k);
                sched.after_step(l, opt.dyn_mut());
            }
            let reference = bits(&m);
            assert_ne!(reference, start, "{oname}/{sname}: training did not move");

            // interrupted at SPLIT
            let (_, mut opt1) = optimisers().swap_remove(oi);
            let (_, mut sched1) = schedules().swap_remove(si);
            let mut m1 = model(false);
            if let Sched::Closed(s) = &sched1 {
                s.apply(opt1.dyn_mut());
            }
            for k in 0..SPLIT {
                let l = opt1.step(&mut m1, k);
                sched1.after_step(l, opt1.dyn_mut());
            }
            let mut sd = checkpoint::state_dict(&m1);
            sd.merge_prefixed("optim", opt1.dyn_mut().state_dict());
            sd.merge_prefixed("schedule", sched1.state_dict());
            drop((m1, opt1, sched1));
            // through a safetensors file for every optimiser and every schedule at least once (a save
            // fsyncs, so not for all pairs); in memory for the other pairs
            let sd: StateDict<f32> = if si == oi % n_sched || oi == si % n_opt {
                checkpoint::save(&path, &sd).unwrap();
                checkpoint::load(&path).unwrap()
            } else {
                sd
            };
            let mut m2 = model(true);
            checkpoint::load_state_dict(&mut m2, &sd).unwrap();
            let (_, mut opt2) = optimisers().swap_remove(oi);
            let (_, mut sched2) = schedules().swap_remove(si);
            opt2.dyn_mut().load_state_dict(&sd.sub("optim")).unwrap();
            sched2.load_state_dict(&sd.sub("schedule"));
            for k in SPLIT..TOTAL {
                let l = opt2.step(&mut m2, k);
                sched2.after_step(l, opt2.dyn_mut());
            }
            assert_eq!(bits(&m2), reference, "{oname} / {sname}: resumed run differs");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without the optimiser state the continuation differs: the test above would notice lost state.
#[test]
fn dropping_the_optimiser_state_changes_the_result() {
    let mut m = model(false);
    let mut opt = Opt::Plain(Box::new(Adam::new(AdamConfig::new(0.01))));
    for k in 0..TOTAL {
        opt.step(&mut m, k);
    }
    let mut m1 = model(false);
    let mut opt1 = Opt::Plain(Box::new(Adam::new(AdamConfig::new(0.01))));
    for k in 0..SPLIT {
        opt1.step(&mut m1, k);
    }
    let mut opt2 = Opt::Plain(Box::new(Adam::new(AdamConfig::new(0.01))));
    for k in SPLIT..TOTAL {
        opt2.step(&mut m1, k);
    }
    assert_ne!(bits(&m1), bits(&m));
}
