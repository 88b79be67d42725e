//! # Linear classifiers on digits: random search against following the gradient
//!
//! ```text
//! cargo run --release --example linear_classifier [-- --fast]
//! ```
//!
//! `s = f(x; W) = W x + b` with two losses of the lecture (cs231n lecture 4, "Optimization"):
//!
//! ```text
//! softmax:         L_i = -log(e^{s_{y_i}} / sum_j e^{s_j})
//! multiclass SVM:  L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1)
//! full loss:       L   = 1/N sum_i L_i + lambda sum_k W_k^2
//! ```
//!
//! **Idea #1, random search (bad idea!)**: draw `W = randn(10, 64) * 0.0001` a thousand times, keep the `W`
//! with the lowest training loss, as in the lecture's code (which printed `in attempt 0 the loss was
//! 9.401632, best 9.401632` and reached 15.5% test accuracy on CIFAR-10: "not bad!"). The SVM loss of a
//! tiny `W` is close to 9: all nine margins are about 1.
//!
//! **Idea #2, follow the slope**: minibatch SGD on the same losses, gradients from the tape, written as the
//! plain loop a user writes (no [`wengert::train::Trainer`]).
//!
//! Expected output (digits: first 1437 rows train, last 360 test, pixels / 16):
//!
//! ```text
//!   svm: in attempt 0 the loss was 9.000048, best 9.000048
//!   ...
//! random search (1000 attempts)   svm: best training loss 8.9985, test accuracy 0.2861
//! gradient descent (30 epochs)    svm: training loss 0.0589, test accuracy 0.9111
//!   softmax: in attempt 0 the loss was 2.302590, best 2.302590
//!   ...
//! random search (1000 attempts)   softmax: best training loss 2.3024, test accuracy 0.2861
//! gradient descent (30 epochs)    softmax: training loss 0.1494, test accuracy 0.9000
//! ```
//! (scikit-learn's logistic regression reaches 0.911 on this split, see `shared/anchors`.)

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::data::{DataLoader, TensorDataset};
use wengert::nn::datasets::digits_split;
use wengert::nn::layers::Linear;
use wengert::nn::loss::{cross_entropy, multiclass_hinge, Reduction};
use wengert::nn::metrics::accuracy;
use wengert::nn::{Bound, Module};
use wengert::optim::first_order::{Optimizer, Sgd, SgdConfig};
use wengert::prelude::*;

/// Which loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Multiclass SVM (hinge, margin 1).
    Svm,
    /// Softmax cross-entropy.
    Softmax,
}

impl LossKind {
    fn name(self) -> &'static str {
        match self {
            LossKind::Svm => "svm",
            LossKind::Softmax => "softmax",
        }
    }

    /// Mean data loss of the scores `[N, 10]`.
    fn data_loss<'t>(self, scores: Var<'t, f64>, labels: &[usize]) -> Var<'t, f64> {
        match self {
            LossKind::Svm => multiclass_hinge(scores, labels, 1.0, Reduction::Mean),
            LossKind::Softmax => cross_entropy(scores, labels, Reduction::Mean),
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// 100 attempts and 3 epochs instead of 1000 and 30 (CI).
    pub fast: bool,
    /// Seed of the random search, the initialisation and the minibatch order.
    pub seed: u64,
}

/// One classifier's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The loss.
    pub loss: LossKind,
    /// Best (random search) or final (gradient descent) training loss.
    pub train_loss: f64,
    /// Accuracy on the 360 test rows.
    pub test_accuracy: f64,
}

/// Random-search and gradient-descent outcomes, per loss.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Random search, SVM then softmax.
    pub random_search: Vec<Outcome>,
    /// Gradient descent, SVM then softmax.
    pub gradient_descent: Vec<Outcome>,
    /// Training loss of the first random attempt, SVM then softmax.
    pub first_attempt_loss: Vec<f64>,
}

const REG: f64 = 1e-4;

fn full_loss(model: &Linear<f64>, data: &TensorDataset<f64>, kind: LossKind) -> (f64, f64) {
    let tape = Tape::new();
    let p = Bound::new(&tape, model);
    let scores = model.forward(&p, tape.constant(data.features().clone()));
    let labels = data.labels().expect("digits have labels");
    let loss = kind.data_loss(scores, labels) + p.var(&model.weight).square().sum() * REG;
    (loss.value().item(), accuracy(&scores.value(), labels))
}

fn test_accuracy(model: &Linear<f64>, test: &TensorDataset<f64>) -> f64 {
    full_loss(model, test, LossKind::Softmax).1
}

/// Idea #1: keep the best of `attempts` random `W = randn * 0.0001`. Returns (first loss, outcome).
pub fn random_search(
    kind: LossKind,
    attempts: usize,
    train: &TensorDataset<f64>,
    test: &TensorDataset<f64>,
    seed: u64,
) -> (f64, Outcome) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut best: Option<(f64, Linear<f64>)> = None;
    let mut first = f64::NAN;
    for num in 0..attempts {
        let w = Tensor::<f64>::randn(&[10, 64], 0.0, 1e-4, &mut rng);
        let model = Linear::from_tensors(w, Some(Tensor::zeros(&[10])));
        let (loss, _) = full_loss(&model, train, kind);
        if num == 0 {
            first = loss;
        }
        if best.as_ref().is_none_or(|(b, _)| loss < *b) {
            best = Some((loss, model));
        }
        if num < 5 {
            println!(
                "  {}: in attempt {num} the loss was {loss:.6}, best {:.6}",
                kind.name(),
                best.as_ref().unwrap().0
            );
        }
    }
    let (loss, model) = best.expect("at least one attempt");
    (first, Outcome { loss: kind, train_loss: loss, test_accuracy: test_accuracy(&model, test) })
}

/// Idea #2: minibatch SGD (momentum 0.9) on the full loss, the loop written out.
pub fn gradient_descent(
    kind: LossKind,
    epochs: u64,
    train: &TensorDataset<f64>,
    test: &TensorDataset<f64>,
    seed: u64,
) -> Outcome {
    let mut model = Linear::<f64>::new(64, 10, &mut StdRng::seed_from_u64(seed));
    let mut opt = Sgd::new(SgdConfig::new(0.05).momentum(0.9));
    let loader = DataLoader::new(64).shuffle(seed);
    for epoch in 0..epochs {
        for batch in loader.epoch(train, epoch) {
            let tape = Tape::new();
            let p = Bound::new(&tape, &model);
            let scores = model.forward(&p, tape.constant(batch.x.clone()));
            let loss = kind.data_loss(scores, batch.labels()) + p.var(&model.weight).square().sum() * REG;
            let grads = p.grad(loss);
            opt.step(&mut model, &grads).expect("finite gradients");
        }
    }
    let (train_loss, _) = full_loss(&model, train, kind);
    Outcome { loss: kind, train_loss, test_accuracy: test_accuracy(&model, test) }
}

/// Runs both ideas for both losses and prints the comparison.
pub fn run(opts: &Options) -> Summary {
    let split = digits_split::<f64>();
    let (attempts, epochs) = if opts.fast { (100, 3) } else { (1000, 30) };
    let mut summary = Summary { random_search: vec![], gradient_descent: vec![], first_attempt_loss: vec![] };
    for kind in [LossKind::Svm, LossKind::Softmax] {
        let (first, rs) = random_search(kind, attempts, &split.train, &split.test, opts.seed);
        println!(
            "random search ({attempts} attempts)   {}: best training loss {:.4}, test accuracy {:.4}",
            kind.name(),
            rs.train_loss,
            rs.test_accuracy
        );
        let gd = gradient_descent(kind, epochs, &split.train, &split.test, opts.seed);
        println!(
            "gradient descent ({epochs} epochs)    {}: training loss {:.4}, test accuracy {:.4}",
            kind.name(),
            gd.train_loss,
            gd.test_accuracy
        );
        summary.first_attempt_loss.push(first);
        summary.random_search.push(rs);
        summary.gradient_descent.push(gd);
    }
    summary
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fast = args.iter().any(|a| a == "--fast") || std::env::var("WENGERT_FAST").is_ok_and(|v| v == "1");
    run(&Options { fast, seed: 0 });
}
