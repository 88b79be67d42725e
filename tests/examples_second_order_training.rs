//! Keeps `examples/second_order_training.rs` (the race of issue 12) alive: its `--fast` mode (two epochs, one
//! setting per method, the same code path as the full race) runs here and what it reports is checked.

#[allow(dead_code)]
#[path = "../examples/second_order_training.rs"]
mod second_order_training;

use second_order_training::{run, Net, Options, Summary};

fn race(net: Net) -> (Summary, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!("wengert_second_order_training_{net:?}_{}", std::process::id()));
    let mut s = run(&Options { nets: vec![net], fast: true, out: out.clone(), seed: 0, only: None });
    assert_eq!(s.len(), 1);
    (s.remove(0), out)
}

#[test]
fn every_method_of_the_race_trains_the_digits_mlp() {
    let (s, out) = race(Net::Mlp);
    check(&s);
    let svg = std::fs::read_to_string(out.join("race_mlp.svg")).expect("the plot is written");
    assert!(svg.contains("test accuracy against seconds of steps") && svg.contains("AdaHessian"));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn every_method_of_the_race_trains_the_digits_cnn() {
    let (s, out) = race(Net::Cnn);
    check(&s);
    assert!(out.join("race_cnn.svg").exists());
    std::fs::remove_dir_all(&out).ok();
}

/// What both races must show.
fn check(s: &Summary) {
    assert_eq!(s.epochs, 2);
    let names: Vec<&str> = s.methods.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "Adam",
            "SGD + momentum 0.9",
            "Shampoo (Adam graft)",
            "K-FAC",
            "Hessian-free",
            "Sophia-G",
            "Sophia-H",
            "AdaHessian"
        ]
    );
    for m in &s.methods {
        assert_eq!(m.runs.len(), 1, "{}: one setting in fast mode", m.name);
        let r = m.best();
        assert!(r.error.is_none(), "{}: stopped with {:?}", m.name, r.error);
        let c = &r.curve;
        assert_eq!(c.train_loss.len(), s.epochs + 1, "{}: initial point plus one per epoch", m.name);
        // Ten classes at initialisation: the loss starts near ln 10 = 2.30 and the accuracy near chance.
        assert!((c.train_loss[0] - 10f64.ln()).abs() < 0.3, "{}: initial loss {}", m.name, c.train_loss[0]);
        // Every method decreases the training loss, at every epoch, and to well under half of it in two epochs.
        assert!(c.train_loss.windows(2).all(|w| w[1] < w[0]), "{}: {:?}", m.name, c.train_loss);
        assert!(r.final_loss() < 0.5 * c.train_loss[0], "{}: {:?}", m.name, c.train_loss);
        // Two epochs are enough for far better than chance (0.1) on the held-out rows.
        assert!(r.final_accuracy() > 0.75, "{}: test accuracy {}", m.name, r.final_accuracy());
        assert!(c.seconds.windows(2).all(|w| w[1] >= w[0]), "{}: the clock goes forward", m.name);
        assert_eq!(r.steps, 2 * 1437usize.div_ceil(r.batch_size), "{}: every minibatch stepped", m.name);
        assert!(r.evaluations >= r.steps, "{}: at least one closure call per step", m.name);
    }
    let by_name = |n: &str| s.methods.iter().find(|m| m.name == n).unwrap().best();
    // The Hessian-based methods report their curvature products: AdaHessian one per step, Sophia-H one every
    // 10 steps, Sophia-G none (its Gauss-Newton-Bartlett estimate is a second gradient), first-order ones none.
    assert_eq!(by_name("AdaHessian").curvature_products, by_name("AdaHessian").steps);
    assert_eq!(by_name("Sophia-G").curvature_products, 0);
    assert_eq!(by_name("Sophia-H").curvature_products, by_name("Sophia-H").steps.div_ceil(10));
    assert_eq!(by_name("Adam").curvature_products, 0);
    // Adam reaches its own best loss; the table has a row per method.
    assert_eq!(s.adam_best_loss, by_name("Adam").final_loss());
    assert!(by_name("Adam").time_to(s.adam_best_loss).is_some());
    for name in &names {
        assert!(s.table.contains(&format!("| {name} |")), "no row for {name} in\n{}", s.table);
    }
}
