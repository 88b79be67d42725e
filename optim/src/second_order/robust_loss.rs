//! Robust losses for least squares, as scipy's `least_squares(loss=..., f_scale=...)`: the cost
//!
//! ```text
//! F(x) = 1/2 sum_i C^2 rho(z_i),   z_i = (r_i(x) / C)^2,   C = f_scale
//! ```
//!
//! grows more slowly than `1/2 ||r||^2` for residuals beyond `C`, so outliers pull less on the fit. With
//! `rho(z) = z` ([`Loss::Linear`]) it is the ordinary least-squares cost.
//!
//! The Gauss-Newton-type methods use them as scipy does (Triggs et al., "Bundle adjustment — a modern
//! synthesis", 2000, §4.3): at each point the residuals and the rows of `J` are rescaled,
//!
//! ```text
//! w_i = sqrt(max(rho'(z_i) + 2 z_i rho''(z_i), eps)),   r~_i = rho'(z_i) r_i / w_i,   J~ = diag(w) J,
//! ```
//!
//! so that `J~^T r~ = grad F` and `J~^T J~` is the Gauss-Newton part of `grad^2 F`; the method then works on
//! `(r~, J~)` and compares values of `F` itself.

use wengert_autodiff::Float;

/// Which `rho(z)` (`z` the squared scaled residual), as scipy's `loss=` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Loss {
    /// `rho(z) = z`: ordinary least squares (the default).
    #[default]
    Linear,
    /// `rho(z) = z` for `z <= 1`, `2 sqrt(z) - 1` beyond (Huber 1964).
    Huber,
    /// `rho(z) = 2 (sqrt(1 + z) - 1)`, a smooth Huber.
    SoftL1,
    /// `rho(z) = ln(1 + z)` (Cauchy / Lorentzian).
    Cauchy,
    /// `rho(z) = arctan(z)`: bounded by `pi / 2`, so one residual can add at most `C^2 pi / 4` to the cost.
    Arctan,
}

/// A loss and its scale `C` (scipy's `f_scale`): residuals of size `C` are where the loss turns robust.
///
/// `C` is a setting, `f64` as every hyperparameter; the methods below convert it to the residuals' type `T`
/// once per call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RobustLoss {
    /// `rho`. Default [`Loss::Linear`].
    pub loss: Loss,
    /// `C > 0`. Default `1` (as scipy).
    pub f_scale: f64,
}

impl Default for RobustLoss {
    fn default() -> Self {
        RobustLoss { loss: Loss::Linear, f_scale: 1.0 }
    }
}

impl RobustLoss {
    /// `loss` with scale `f_scale`.
    pub fn new(loss: Loss, f_scale: f64) -> Self {
        RobustLoss { loss, f_scale }
    }

    /// `(rho(z), rho'(z), rho''(z))` at `z = (r / C)^2`, unscaled.
    pub fn rho<T: Float>(&self, r: T) -> (T, T, T) {
        self.rho_at(T::from_f64(self.f_scale), r)
    }

    /// [`RobustLoss::rho`] with `C = c` already in `T`.
    fn rho_at<T: Float>(&self, c: T, r: T) -> (T, T, T) {
        let z = (r / c) * (r / c);
        let (one, half, two) = (T::ONE, T::from_f64(0.5), T::from_f64(2.0));
        match self.loss {
            Loss::Linear => (z, one, T::ZERO),
            Loss::Huber if z <= one => (z, one, T::ZERO),
            Loss::Huber => {
                let s = z.sqrt();
                (two * s - one, one / s, -half / (z * s))
            }
            Loss::SoftL1 => {
                let t = one + z;
                let s = t.sqrt();
                (two * (s - one), one / s, -half / (t * s))
            }
            Loss::Cauchy => {
                let t = one + z;
                (t.ln(), one / t, -one / (t * t))
            }
            Loss::Arctan => {
                let t = one + z * z;
                (z.atan(), one / t, -two * z / (t * t))
            }
        }
    }

    /// `F = 1/2 sum_i C^2 rho((r_i / C)^2)` (`1/2 ||r||^2` for [`Loss::Linear`]).
    pub fn cost<T: Float>(&self, r: &[T]) -> T {
        if self.loss == Loss::Linear {
            return T::from_f64(0.5) * r.iter().map(|&v| v * v).sum::<T>();
        }
        let c = T::from_f64(self.f_scale);
        let c2 = c * c;
        T::from_f64(0.5) * c2 * r.iter().map(|&v| self.rho_at(c, v).0).sum::<T>()
    }

    /// The rescaled residuals `r~` and the row weights `w` of `J~ = diag(w) J` (module doc); `None` for
    /// [`Loss::Linear`], where they are `r` and `1`.
    pub fn scale<T: Float>(&self, r: &[T]) -> Option<(Vec<T>, Vec<T>)> {
        if self.loss == Loss::Linear {
            return None;
        }
        let c = T::from_f64(self.f_scale);
        let c2 = c * c;
        let (rs, ws) = r
            .iter()
            .map(|&v| {
                let (_, d1, d2) = self.rho_at(c, v);
                // rho'' is in z; d/dr of (C^2 rho) has the factor 2 z / C^2 r^2 = 2 / C^2 folded in below
                let w = (d1 + T::from_f64(2.0) * d2 * v * v / c2).max(T::EPSILON).sqrt();
                (d1 * v / w, w)
            })
            .unzip();
        Some((rs, ws))
    }
}
