//! The NIST StRD nonlinear regression problems (lower, average and higher difficulty), fitted by the default
//! least-squares solver from both certified starts and compared with the certified parameters.
//!
//! The `.dat` files in `tests/data/nist/` are NIST's own (public domain; certified values computed by NIST in
//! 128-bit arithmetic), read here as they are: the starts, the certified values and the data come from the file,
//! only the model is written below (with tape ops, so the Jacobian is exact). `tests/data/nist/minpack.txt`
//! holds MINPACK's results on the same problems (scipy `least_squares(method='lm')`, i.e. `lmder`, with an
//! exact Jacobian), written by `tests/scripts/nist_minpack.py`: the evaluation counts are checked against it.
//! `tests/data/nist/mgh10_moved_starts.txt` (from `tests/scripts/nist_mgh10_moved_starts.py`) holds MINPACK's
//! counts on MGH10 from start 1 moved by a few ulps, where a single count is a draw of rounding.

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

/// The whitespace-separated fields of every line of `tests/data/nist/<file>` but the `#` comments.
fn data_rows(file: &str) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nist").join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// MINPACK's residual-evaluation count and relative error per (problem, start), from `minpack.txt`.
fn minpack() -> Vec<(String, usize, usize, f64)> {
    data_rows("minpack.txt")
        .into_iter()
        .map(|v| (v[0].clone(), v[1].parse().unwrap(), v[2].parse().unwrap(), v[4].parse().unwrap()))
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

/// (problem, start) pairs the default solver does not yet fit to 1e-8.
const KNOWN_MISSES: &[(&str, usize)] = &[];

/// Residual evaluations allowed beyond MINPACK's count.
const MINPACK_SLACK: usize = 1;

/// Where the count is above MINPACK's by more than the slack: MGH10 from start 1 (288 against 284). Its ~280
/// short steps along a curved valley are decided at knife edges (before `lmpar` solved from `J = Q R`, a ratio of
/// 0.2487 against `lmder`'s threshold 0.25 at evaluation 138 parted our path from MINPACK's), where rounding-level
/// differences (our residuals and Jacobian differ from scipy's by a few ulps) send the two paths apart; fed the
/// same state, our `lmpar` and a numpy one take the same trial. This row's count is a draw of rounding, not a gap
/// in the method: `mgh10_start1_counts_are_no_worse_than_minpack_over_moved_starts` checks it over 101 starts
/// with `b1` moved by -50..50 ulps (ours 278-302, mean 286.0; MINPACK 278-299, mean 285.9, or 278-300, mean
/// 285.5, with an analytic Jacobian, where MINPACK itself takes 291 from the unmoved start).
const KNOWN_OVER_MINPACK: &[(&str, usize)] = &[("MGH10", 1)];

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

/// One row of `mgh10_moved_starts.txt`: MINPACK's runs from MGH10's start 1 with `b1` moved by `k` ulps.
struct MovedStart {
    k: i64,
    b1: f64,
    /// `(nfev, reached 1e-8)` with the complex-step Jacobian and with the analytic one.
    minpack: [(usize, bool); 2],
}

fn mgh10_moved_starts() -> Vec<MovedStart> {
    data_rows("mgh10_moved_starts.txt")
        .into_iter()
        .map(|v| {
            let b1 = f64::from_bits(u64::from_str_radix(v[1].trim_start_matches("0x"), 16).unwrap());
            let run = |i: usize| (v[i].parse().unwrap(), v[i + 1] == "1");
            MovedStart { k: v[0].parse().unwrap(), b1, minpack: [run(2), run(4)] }
        })
        .collect()
}

/// Mean, sample standard deviation, min and max of a sample of counts.
fn summary(counts: &[usize]) -> (f64, f64, usize, usize) {
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<usize>() as f64 / n;
    let var = counts.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt(), *counts.iter().min().unwrap(), *counts.iter().max().unwrap())
}

/// The claim behind `KNOWN_OVER_MINPACK`: from MGH10's start 1 the count is a draw of rounding, and over the
/// draws ours is no worse than MINPACK's. Both run from the start with `b1` moved by `k` ulps, `-50 <= k <= 50`
/// (`f64::from_bits(2f64.to_bits() + k)`, checked bit for bit against the `np.nextafter` steps of
/// `tests/scripts/nist_mgh10_moved_starts.py`, which wrote MINPACK's counts with the complex-step Jacobian of
/// `nist_minpack.py` and with the analytic one). Every one of our runs reaches 1e-8, and for each of the two
/// MINPACK columns our mean count over the starts where MINPACK reaches 1e-8 is at most MINPACK's mean there
/// plus twice the standard error of the difference of the means.
///
/// The allowance is there because the means differ by less than their noise, so a bare `<=` would pass or fail
/// on the draw: our 286.0 against MINPACK's 285.9 (complex step; 100 of the 101 starts reach 1e-8, the other
/// stops at its budget of 300) and 285.5 (analytic; all 101), standard deviations 5.2-5.4, so a standard error
/// of the difference of 0.74-0.75 (over `-100..=100` ulps: 286.1 against 286.2 and 285.6). The allowance is
/// 1.5 evaluations (0.5%); our mean has 1.3 and 1.0 evaluations of room below it, so the test fails when our
/// counts rise by about 0.4% (checked: 0.8% higher counts fail, and 2% higher fail by 4.7 evaluations).
#[test]
fn mgh10_start1_counts_are_no_worse_than_minpack_over_moved_starts() {
    let (name, model) = models().into_iter().find(|m| m.0 == "MGH10").unwrap();
    let mut p = parse(name);
    let b1 = p.starts[0][0];
    let runs = mgh10_moved_starts();
    assert_eq!(runs.len(), 101);
    let mut ours = vec![];
    let mut failures = vec![];
    for &MovedStart { k, b1: script_b1, .. } in &runs {
        let moved = f64::from_bits(b1.to_bits().checked_add_signed(k).unwrap());
        assert_eq!(moved.to_bits(), script_b1.to_bits(), "k = {k}: b1 is not the script's");
        p.starts[0][0] = moved;
        let f = fit(&p, model, 0, name, &LmConfig::default());
        let err = rel_err(&f.x, &p.certified);
        let within = err <= 1e-8; // false for NaN
        if !within {
            failures.push(format!("k = {k}: err {err:.1e} nfev {} ({})", f.nfev, f.stop));
        }
        ours.push(f.nfev);
    }
    assert!(failures.is_empty(), "{} runs short of 1e-8:\n{}", failures.len(), failures.join("\n"));
    for (col, jacobian) in ["complex-step", "analytic"].iter().enumerate() {
        let (ours, minpack): (Vec<usize>, Vec<usize>) =
            runs.iter().zip(&ours).filter(|(r, _)| r.minpack[col].1).map(|(r, &o)| (o, r.minpack[col].0)).unzip();
        let (o, m) = (summary(&ours), summary(&minpack));
        let n = ours.len() as f64;
        let se = ((o.1 * o.1 + m.1 * m.1) / n).sqrt();
        let line = format!(
            "MGH10 start 1, b1 moved by -50..=50 ulps, over the {n} starts where MINPACK ({jacobian} Jacobian) \
             reaches 1e-8: our mean nfev {:.2} (sd {:.2}, {}-{}) against MINPACK's {:.2} (sd {:.2}, {}-{}), \
             allowance 2 se = {:.2}",
            o.0,
            o.1,
            o.2,
            o.3,
            m.0,
            m.1,
            m.2,
            m.3,
            2.0 * se
        );
        println!("{line}");
        assert!(o.0 <= m.0 + 2.0 * se, "{line}");
    }
}

/// Where the Gauss-Newton-only port of `lmder` (`LmConfig::minpack`) takes more residual evaluations than
/// MINPACK by more than the slack: Thurber from start 2 (42 against 40, both ending at 7e-9 of the solution).
/// Its last trials, in the linear convergence of a large-residual problem, are decided at the rounding level:
/// over 61 starts moved by -30..30 ulps in `b1` ours take 39-43 evaluations and MINPACK 38-46 (median 40 both).
const LMDER_OVER_MINPACK: &[(&str, usize)] = &[("Thurber", 2)];

/// The port of `lmder` alone, as the table tested it before the adaptive model: within 10 times MINPACK's error
/// or 1e-7 (its stopping rules end linear convergence there: e.g. Rat43 from start 1 stops at 1.1e-8 where
/// MINPACK's last steps happen to reach 7.9e-11), with at most MINPACK's residual evaluations (+1)
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
