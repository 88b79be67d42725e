//! The NIST StRD nonlinear regression problems (lower, average and higher difficulty), fitted by the default
//! least-squares solver from both certified starts and compared with the certified parameters.
//!
//! The `.dat` files in `tests/data/nist/` are NIST's own (public domain; certified values computed by NIST in
//! 128-bit arithmetic), read here as they are: the starts, the certified values and the data come from the file,
//! only the model is written below (with tape ops, so the Jacobian is exact). `tests/data/nist/minpack.txt`
//! holds MINPACK's results on the same problems (scipy `least_squares(method='lm')`, i.e. `lmder`, with an
//! exact Jacobian), written by `tests/scripts/nist_minpack.py`: the evaluation counts are checked against it.

use std::path::Path;

use wengert_autodiff::{Tensor, Var};
use wengert_optim::objective::TapeLeastSquares;
use wengert_optim::second_order::levenberg_marquardt::{self, LmConfig};

/// One NIST problem as its file gives it.
struct Problem {
    starts: [Vec<f64>; 2],
    certified: Vec<f64>,
    /// The predictor columns (one, or two for Nelson).
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
}

/// The inclusive 1-based line span after `label` in the header ("Starting Values   (lines 41 to 42)").
fn span(text: &str, label: &str) -> (usize, usize) {
    let line = text.lines().take(12).find(|l| l.contains(label)).unwrap_or_else(|| panic!("no {label} span"));
    let nums: Vec<usize> =
        line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    (nums[0], nums[1])
}

fn parse(name: &str) -> Problem {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nist").join(format!("{name}.dat"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let num = |s: &str| s.parse::<f64>().unwrap_or_else(|e| panic!("{name}: {s:?}: {e}"));
    let (s0, s1) = span(&text, "Starting Values");
    let (mut starts, mut certified) = ([vec![], vec![]], vec![]);
    for line in &lines[s0 - 1..s1] {
        let v: Vec<f64> = line.split('=').nth(1).unwrap().split_whitespace().map(num).collect();
        starts[0].push(v[0]);
        starts[1].push(v[1]);
        certified.push(v[2]);
    }
    let (d0, d1) = span(&text, "Data  ");
    let rows: Vec<Vec<f64>> = lines[d0 - 1..d1].iter().map(|l| l.split_whitespace().map(num).collect()).collect();
    let y = rows.iter().map(|r| r[0]).collect();
    let x = (1..rows[0].len()).map(|c| rows.iter().map(|r| r[c]).collect()).collect();
    Problem { starts, certified, x, y }
}

type Model = for<'t> fn(&[Var<'t, f64>], &[Var<'t, f64>]) -> Var<'t, f64>;

fn cubic_over_cubic<'t>(b: &[Var<'t, f64>], x: &[Var<'t, f64>]) -> Var<'t, f64> {
    let x = x[0];
    let (x2, x3) = (x.square(), x.powf(3.0));
    (b[0] + b[1] * x + b[2] * x2 + b[3] * x3) / (b[4] * x + b[5] * x2 + b[6] * x3).add_scalar(1.0)
}

fn gauss<'t>(b: &[Var<'t, f64>], x: &[Var<'t, f64>]) -> Var<'t, f64> {
    let x = x[0];
    b[0] * (b[1].neg() * x).exp()
        + b[2] * ((x - b[3]).square().neg() / b[4].square()).exp()
        + b[5] * ((x - b[6]).square().neg() / b[7].square()).exp()
}

fn lanczos<'t>(b: &[Var<'t, f64>], x: &[Var<'t, f64>]) -> Var<'t, f64> {
    let x = x[0];
    b[0] * (b[1].neg() * x).exp() + b[2] * (b[3].neg() * x).exp() + b[4] * (b[5].neg() * x).exp()
}

fn chwirut<'t>(b: &[Var<'t, f64>], x: &[Var<'t, f64>]) -> Var<'t, f64> {
    (b[0].neg() * x[0]).exp() / (b[1] + b[2] * x[0])
}

fn exponential_rise<'t>(b: &[Var<'t, f64>], x: &[Var<'t, f64>]) -> Var<'t, f64> {
    b[0] * (b[1].neg() * x[0]).exp().neg().add_scalar(1.0)
}

/// The problems in NIST's order (lower, average, higher difficulty), with their models as NIST writes them.
/// Nelson's response is `log(y)`.
fn models() -> Vec<(&'static str, Model)> {
    vec![
        ("Misra1a", exponential_rise),
        ("Chwirut2", chwirut),
        ("Chwirut1", chwirut),
        ("Lanczos3", lanczos),
        ("Gauss1", gauss),
        ("Gauss2", gauss),
        ("DanWood", |b, x| b[0] * x[0].pow(b[1])),
        ("Misra1b", |b, x| b[0] * (b[1] * x[0] * 0.5).add_scalar(1.0).powf(-2.0).neg().add_scalar(1.0)),
        ("Kirby2", |b, x| {
            let x = x[0];
            (b[0] + b[1] * x + b[2] * x.square()) / (b[3] * x + b[4] * x.square()).add_scalar(1.0)
        }),
        ("Hahn1", cubic_over_cubic),
        ("Nelson", |b, x| b[0] - b[1] * x[0] * (b[2].neg() * x[1]).exp()),
        ("MGH17", |b, x| b[0] + b[1] * (x[0] * b[3]).neg().exp() + b[2] * (x[0] * b[4]).neg().exp()),
        ("Lanczos1", lanczos),
        ("Lanczos2", lanczos),
        ("Gauss3", gauss),
        ("Misra1c", |b, x| b[0] * (b[1] * x[0] * 2.0).add_scalar(1.0).powf(-0.5).neg().add_scalar(1.0)),
        ("Misra1d", |b, x| b[0] * b[1] * x[0] / (b[1] * x[0]).add_scalar(1.0)),
        ("Roszman1", |b, x| b[0] - b[1] * x[0] - (b[2] / (x[0] - b[3])).atan() * std::f64::consts::FRAC_1_PI),
        ("ENSO", |b, x| {
            let w = x[0] * (2.0 * std::f64::consts::PI);
            let (c12, s12) = ((w * (1.0 / 12.0)).cos(), (w * (1.0 / 12.0)).sin());
            b[0] + b[1] * c12
                + b[2] * s12
                + b[4] * (w / b[3]).cos()
                + b[5] * (w / b[3]).sin()
                + b[7] * (w / b[6]).cos()
                + b[8] * (w / b[6]).sin()
        }),
        ("MGH09", |b, x| {
            let x = x[0];
            b[0] * (x.square() + x * b[1]) / (x.square() + x * b[2] + b[3])
        }),
        ("Thurber", cubic_over_cubic),
        ("BoxBOD", exponential_rise),
        ("Rat42", |b, x| b[0] / (b[1] - b[2] * x[0]).exp().add_scalar(1.0)),
        ("MGH10", |b, x| b[0] * (b[1] / (x[0] + b[2])).exp()),
        ("Eckerle4", |b, x| (b[0] / b[1]) * ((x[0] - b[2]) / b[1]).square().mul_scalar(-0.5).exp()),
        ("Rat43", |b, x| b[0] / (b[1] - b[2] * x[0]).exp().add_scalar(1.0).pow(b[3].powf(-1.0))),
        ("Bennett5", |b, x| b[0] * (b[1] + x[0]).pow(b[2].powf(-1.0).neg())),
    ]
}

/// MINPACK's residual-evaluation count and relative error per (problem, start), from `minpack.txt`.
fn minpack() -> Vec<(String, usize, usize, f64)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nist/minpack.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            (v[0].to_string(), v[1].parse().unwrap(), v[2].parse().unwrap(), v[4].parse().unwrap())
        })
        .collect()
}

struct Fit {
    x: Vec<f64>,
    nfev: usize,
    stop: String,
    augmented: usize,
}

fn fit(p: &Problem, model: Model, start: usize, name: &str, config: &LmConfig) -> Fit {
    let n = p.certified.len();
    let xs: Vec<Tensor<f64>> = p.x.iter().map(|c| Tensor::from_vec(c.clone(), &[c.len()])).collect();
    let y = if name == "Nelson" { p.y.iter().map(|v| v.ln()).collect() } else { p.y.clone() };
    let y = Tensor::from_vec(y.clone(), &[y.len()]);
    let mut problem = TapeLeastSquares::new(move |b: Var<'_, f64>| {
        let bs: Vec<_> = (0..n).map(|i| b.slice(0, i..i + 1)).collect();
        let xv: Vec<_> = xs.iter().map(|t| b.constant_like(t.clone())).collect();
        model(&bs, &xv) - b.constant_like(y.clone())
    });
    let r = levenberg_marquardt::minimize(&mut problem, &p.starts[start], config)
        .unwrap_or_else(|e| panic!("{name} start {}: {e}", start + 1));
    let (nfev, augmented) = (r.info.residual_evaluations, r.info.augmented_trials);
    Fit { x: r.x, nfev, stop: format!("{:?}", r.stop), augmented }
}

fn rel_err(x: &[f64], c: &[f64]) -> f64 {
    x.iter().zip(c).map(|(a, b)| ((a - b) / b).abs()).fold(0.0, f64::max)
}

/// (problem, start) pairs the default solver does not yet fit to 1e-8: Bennett5 from start 2 stops on `xtol` at
/// 4.1e-8 (211 evaluations; MINPACK 9.4e-12 in 207). Its steps are decided at the rounding level of a badly
/// conditioned problem: with the Jacobian columns from forward-mode `J e_j` it ends there, with the double-vjp
/// products it replaced it reached 9.4e-12 in 208.
const KNOWN_MISSES: &[(&str, usize)] = &[("Bennett5", 2)];

/// Residual evaluations allowed beyond MINPACK's count.
const MINPACK_SLACK: usize = 1;

/// Where the count is above MINPACK's by more than the slack: MGH10 from start 1 takes ~280 short steps along a
/// curved valley and the two paths drift apart (298 against 284); Bennett5 from start 2 (211 against 207, see
/// `KNOWN_MISSES`).
const KNOWN_OVER_MINPACK: &[(&str, usize)] = &[("MGH10", 1), ("Bennett5", 2)];

/// The default solver (`LsModel::Adaptive`: Levenberg-Marquardt switching to the exact Hessian model as NL2SOL).
#[test]
fn nist_strd_problems_reach_the_certified_values() {
    let mp = minpack();
    let mut failures = vec![];
    let mut lines = vec![];
    let mut augmented_runs = 0;
    for (name, model) in models() {
        let p = parse(name);
        for start in 0..2 {
            let f = fit(&p, model, start, name, &LmConfig::default());
            augmented_runs += usize::from(f.augmented > 0);
            let err = rel_err(&f.x, &p.certified);
            let m = mp.iter().find(|m| m.0 == name && m.1 == start + 1);
            let line = format!(
                "{name} {} err {err:.1e} nfev {} ({}, {} augmented) minpack {:?}",
                start + 1,
                f.nfev,
                f.stop,
                f.augmented,
                m.map(|m| (m.2, m.3))
            );
            let known = KNOWN_MISSES.contains(&(name, start + 1));
            let within = err <= 1e-8; // false for NaN
            if !within && !known {
                failures.push(format!("{line}: not within 1e-8"));
            }
            if within && known {
                failures.push(format!("{line}: now within 1e-8, remove it from KNOWN_MISSES"));
            }
            // the evaluation count is at most MINPACK's (+1: the same algorithm, its last trials decided by
            // rounding-level differences between QR with pivoting and ours) where MINPACK reaches 1e-8
            if let Some(&(_, _, nfev, merr)) = m {
                let over = f.nfev > nfev + MINPACK_SLACK;
                if merr <= 1e-8 && over && !KNOWN_OVER_MINPACK.contains(&(name, start + 1)) {
                    failures.push(format!("{line}: more residual evaluations than MINPACK"));
                }
            }
            lines.push(line);
        }
    }
    println!("{}", lines.join("\n"));
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // the switching is exercised: the large-residual problems take augmented steps
    assert!(augmented_runs >= 10, "only {augmented_runs} runs used the augmented model");
}

/// Where the Gauss-Newton-only port of `lmder` (`LmConfig::minpack`) takes more residual evaluations than
/// MINPACK by more than the slack: MGH10 from start 1 (296 against 284: ~280 short steps along a curved valley,
/// the two paths drift apart); Roszman1 from start 1 (11 against 9; MINPACK's last steps there reach 7e-11 where
/// ours stop at 9e-8); Misra1d from start 1 (14 against 11, at 2.6e-12 where MINPACK stops at 2e-9: rejected
/// trials at the rounding level, since `J` comes from forward-mode products).
const LMDER_OVER_MINPACK: &[(&str, usize)] = &[("MGH10", 1), ("Roszman1", 1), ("Misra1d", 1)];

/// The port of `lmder` alone, as the table tested it before the adaptive model: within 10 times MINPACK's error
/// or 1e-7 (its stopping rules end linear convergence there: Roszman1 and Rat43 from start 1 stop at 9e-8 and
/// 1.1e-8 where MINPACK's last steps happen to reach 1e-10), with at most MINPACK's residual evaluations (+1)
/// where MINPACK reaches 1e-8.
#[test]
fn the_lmder_port_matches_minpack() {
    let mut failures = vec![];
    for (name, model) in models() {
        let p = parse(name);
        for start in 0..2 {
            let f = fit(&p, model, start, name, &LmConfig::minpack());
            assert_eq!(f.augmented, 0);
            let err = rel_err(&f.x, &p.certified);
            let Some(&(_, _, nfev, merr)) = minpack().iter().find(|m| m.0 == name && m.1 == start + 1) else {
                panic!("{name} {} missing from minpack.txt", start + 1)
            };
            let line =
                format!("{name} {} err {err:.1e} nfev {} ({}) minpack ({nfev}, {merr:.1e})", start + 1, f.nfev, f.stop);
            let within = err <= (10.0 * merr).max(1e-7); // false for NaN
            if !within {
                failures.push(format!("{line}: less accurate than MINPACK"));
            }
            if merr <= 1e-8 && f.nfev > nfev + MINPACK_SLACK && !LMDER_OVER_MINPACK.contains(&(name, start + 1)) {
                failures.push(format!("{line}: more residual evaluations than MINPACK"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
