//! "Done when": a 64-128-10 ReLU MLP trained on the 8x8 digits (first 1437 rows, pixels / 16)
//! reaches at least 92% accuracy on the held-out last 360 rows, deterministically from a seed.
//!
//! The last 360 rows are harder than a random split: scikit-learn's `MLPClassifier((128,))`
//! reaches 91.9% there (`../shared/anchors/sklearn_digits.py`), and without regularisation
//! this model lands at 91-92% too. Dropout 0.5 on the hidden layer for 60 epochs gives 93-94%
//! over seeds 0, 1, 2, 42.
//!
//! Plain SGD with heavy-ball momentum is written out here (`v = mu v + g`, `w -= lr v`, as
//! PyTorch's `SGD(momentum=mu)`), so the test depends only on `nn`.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::nn::data::{DataLoader, Dataset};
use wengert::nn::datasets::digits_split;
use wengert::nn::layers::{Activation, Mlp, MlpConfig};
use wengert::nn::loss::{cross_entropy, Reduction};
use wengert::nn::metrics::{accuracy, ConfusionMatrix};
use wengert::nn::{Bound, Module, Parameters};
use wengert::prelude::*;

const EPOCHS: u64 = 60;
const DROPOUT: f64 = 0.5;
const SEED: u64 = 0;
const BATCH: usize = 32;
const LR: f32 = 0.05;
const MOMENTUM: f32 = 0.9;

/// What a training run leaves: named parameters, test logits, test labels.
type Trained = (Vec<(String, Tensor<f32>)>, Tensor<f32>, Vec<usize>);

/// Trains from `seed` and returns the model's parameters and its test logits.
fn train(seed: u64) -> Trained {
    let split = digits_split::<f32>();
    let config = MlpConfig { dropout: DROPOUT, dropout_seed: seed, ..MlpConfig::new(&[64, 128, 10], Activation::Relu) };
    let mut model = Mlp::<f32>::from_config(&config, &mut StdRng::seed_from_u64(seed));
    let mut velocity: Vec<Vec<f32>> = Vec::new();
    model.visit("", &mut |_, p| velocity.push(vec![0.0; p.numel()]));
    let loader = DataLoader::new(BATCH).shuffle(seed);
    for epoch in 0..EPOCHS {
        for batch in loader.epoch(&split.train, epoch) {
            let grads = {
                let tape = Tape::new();
                let p = Bound::new(&tape, &model);
                let logits = model.forward(&p, tape.constant(batch.x.clone()));
                p.grad(cross_entropy(logits, batch.labels(), Reduction::Mean))
            };
            let mut k = 0;
            model.visit_mut("", &mut |name, param| {
                let g = grads.get(param).unwrap_or_else(|| panic!("{name} has no gradient"));
                let v = &mut velocity[k];
                for ((w, v), &g) in param.value_mut().data_mut().iter_mut().zip(v.iter_mut()).zip(g.as_slice()) {
                    *v = MOMENTUM * *v + g;
                    *w -= LR * *v;
                }
                k += 1;
            });
        }
    }
    model.set_training(false);
    let test = split.test.batch(&(0..split.test.len()).collect::<Vec<_>>());
    let tape = Tape::new();
    let p = Bound::new(&tape, &model);
    let logits = model.forward(&p, tape.constant(test.x.clone())).value();
    (model.named_parameters(), logits, test.labels().to_vec())
}

#[test]
fn mlp_reaches_92_percent_on_digits_deterministically() {
    let (params, logits, labels) = train(SEED);
    let acc = accuracy(&logits, &labels);
    println!(
        "digits 64-128-10 MLP, {EPOCHS} epochs SGD momentum, dropout {DROPOUT}: test accuracy {:.2}%",
        100.0 * acc
    );
    println!("{}", ConfusionMatrix::from_logits(&logits, &labels, 10));
    assert!(acc >= 0.92, "test accuracy {acc} below 0.92");

    let (params2, logits2, _) = train(SEED);
    assert_eq!(accuracy(&logits2, &labels), acc);
    assert_eq!(params.len(), params2.len());
    for ((n1, t1), (n2, t2)) in params.iter().zip(&params2) {
        assert_eq!(n1, n2);
        assert_eq!(t1.as_slice(), t2.as_slice(), "{n1} differs between two runs from the same seed");
    }
}
