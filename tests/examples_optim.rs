//! Keeps the optimisation examples alive: each example's `run(fast = true)` (the CI mode, same code path with
//! fewer iterations) runs here and its results are checked against what the example claims.

#[allow(dead_code)]
#[path = "../examples/learning_rate_diagnostics.rs"]
mod learning_rate_diagnostics;

#[test]
fn learning_rate_diagnostics_tells_the_four_regimes_apart() {
    use learning_rate_diagnostics::Diagnosis::*;
    let s = learning_rate_diagnostics::run(true);
    let got: Vec<(f64, _)> = s.runs.iter().map(|r| (r.alpha, r.diagnosis)).collect();
    assert_eq!(got, vec![(0.01, SlowProgress), (0.25, Healthy), (0.48, Oscillation), (0.51, Instability)]);
    // the steep coordinate w2 is multiplied by 1 - 4 alpha per step
    for r in &s.runs {
        let (w2_0, w2_1) = (r.path[0][1], r.path[1][1]);
        assert!((w2_1 - (1.0 - 4.0 * r.alpha) * w2_0).abs() < 1e-12, "alpha {}: {w2_0} -> {w2_1}", r.alpha);
    }
    // with noisy gradients every decaying schedule ends closer to the minimum than the constant rate
    let constant = &s.schedules[0];
    assert_eq!(constant.name, "constant");
    for sched in &s.schedules[1..] {
        assert!(sched.final_loss < 0.5 * constant.final_loss, "{}: {} vs {}", sched.name, sched.final_loss, constant.final_loss);
        let (first, last) = (sched.rates[sched.rates.len() / 2], sched.rates[sched.rates.len() - 1]);
        assert!(last < first, "{} does not decay: {first} -> {last}", sched.name);
    }
}
