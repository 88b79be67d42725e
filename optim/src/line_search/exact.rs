//! Exact line minimisation for a quadratic: along `d`, `f(x + alpha d) = f + alpha g^T d + alpha^2/2 d^T H d`
//! is minimised at `alpha = -g^T d / d^T H d`, from one Hessian-vector product. For a non-quadratic `f`
//! this is the step to the minimiser of the local quadratic model.

use wengert_autodiff::Float;

use crate::linalg::{dot, LinOp};

/// `-g^T d / d^T H d`, or `None` when the curvature `d^T H d` is not positive (no minimiser along `d`).
///
/// ```
/// use wengert_optim::linalg::DenseMatrix;
/// use wengert_optim::line_search::exact::quadratic_step;
/// // f = x^T A x / 2 with A = diag(1, 4); at x = (1, 1), g = (1, 4), d = -g
/// let a = DenseMatrix::from_vec(2, 2, vec![1.0_f64, 0.0, 0.0, 4.0]);
/// let alpha = quadratic_step(&a, &[1.0, 4.0], &[-1.0, -4.0]).unwrap();
/// assert!((alpha - 17.0 / 65.0).abs() < 1e-15);
/// ```
pub fn quadratic_step<T: Float, H: LinOp<T> + ?Sized>(h: &H, g: &[T], d: &[T]) -> Option<T> {
    let mut hd = vec![T::ZERO; d.len()];
    h.apply(d, &mut hd);
    let curv = dot(d, &hd);
    let alpha = -dot(g, d) / curv;
    (curv > T::ZERO && alpha.is_finite()).then_some(alpha)
}
