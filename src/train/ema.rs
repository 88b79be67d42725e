//! The exponentially weighted moving average that smooths a noisy training-loss curve.

/// Exponential moving average of a stream of numbers, as in the lecture on momentum:
///
/// ```text
/// v_{-1} = 0,    v_k = beta * v_{k-1} + (1 - beta) * s_k    = (1 - beta) * sum_{t<=k} beta^(k-t) s_t
/// ```
///
/// Because `v` starts at zero, early values are biased towards zero ("not exactly an average");
/// [`Ema::value`] divides by `1 - beta^(k+1)`, the bias correction of Adam (Kingma & Ba, 2015) that
/// TensorBoard's "debiased" smoothing also uses, so the first value equals the first sample.
/// [`Ema::raw`] is the uncorrected `v_k` of the lecture.
///
/// ```
/// use wengert::train::Ema;
/// let mut ema = Ema::new(0.9);
/// ema.update(1.0);
/// assert!((ema.raw() - 0.1).abs() < 1e-12); // (1 - 0.9) * 1
/// assert!((ema.value().unwrap() - 1.0).abs() < 1e-12); // bias-corrected
/// ema.update(0.0);
/// // raw: 0.9 * 0.1 = 0.09; corrected: 0.09 / (1 - 0.81)
/// assert!((ema.value().unwrap() - 0.09 / 0.19).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Ema {
    beta: f64,
    raw: f64,
    /// `beta^(k+1)` after `k+1` updates: the weight missing from the average.
    beta_pow: f64,
    count: u64,
}

impl Ema {
    /// An empty average with decay `beta` (the lecture uses `beta = 0.9`).
    ///
    /// # Panics
    /// If `beta` is not in `[0, 1)`.
    pub fn new(beta: f64) -> Self {
        assert!((0.0..1.0).contains(&beta), "EMA decay beta must be in [0, 1), got {beta}");
        Ema { beta, raw: 0.0, beta_pow: 1.0, count: 0 }
    }

    /// Adds sample `s`: `v <- beta v + (1 - beta) s`.
    pub fn update(&mut self, s: f64) {
        self.raw = self.beta * self.raw + (1.0 - self.beta) * s;
        self.beta_pow *= self.beta;
        self.count += 1;
    }

    /// The bias-corrected average `v_k / (1 - beta^(k+1))`, or `None` before the first sample.
    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.raw / (1.0 - self.beta_pow))
    }

    /// The uncorrected `v_k` of the lecture (0 before the first sample).
    pub fn raw(&self) -> f64 {
        self.raw
    }

    /// The decay `beta`.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// Number of samples seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `(raw, beta^(k+1), count)`: what a training state saves to resume the average bit-exactly.
    pub(crate) fn parts(&self) -> (f64, f64, u64) {
        (self.raw, self.beta_pow, self.count)
    }

    /// The average with decay `beta` restored from [`Ema::parts`].
    pub(crate) fn from_parts(beta: f64, (raw, beta_pow, count): (f64, f64, u64)) -> Self {
        Ema { beta, raw, beta_pow, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_closed_form_weighted_sum() {
        let s = [3.0, -1.0, 4.0, 1.5, 9.0, 2.6];
        let beta: f64 = 0.8;
        let mut ema = Ema::new(beta);
        for (k, &x) in s.iter().enumerate() {
            ema.update(x);
            // v_k = (1 - beta) sum_t beta^(k-t) s_t
            let v: f64 = (0..=k).map(|t| (1.0 - beta) * beta.powi((k - t) as i32) * s[t]).sum();
            assert!((ema.raw() - v).abs() < 1e-12);
            // the corrected value is a weighted mean: weights sum to 1
            let w: f64 = (0..=k).map(|t| (1.0 - beta) * beta.powi((k - t) as i32)).sum();
            assert!((ema.value().unwrap() - v / w).abs() < 1e-12);
        }
        assert_eq!(ema.count(), s.len() as u64);
    }

    #[test]
    fn constant_stream_is_its_own_average() {
        let mut ema = Ema::new(0.99);
        assert_eq!(ema.value(), None);
        for _ in 0..5 {
            ema.update(2.5);
            assert!((ema.value().unwrap() - 2.5).abs() < 1e-12);
        }
    }

    #[test]
    #[should_panic(expected = "beta must be in [0, 1)")]
    fn rejects_beta_one() {
        Ema::new(1.0);
    }
}
