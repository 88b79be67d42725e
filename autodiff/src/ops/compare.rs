//! Comparisons producing masks of `0` and `1`: `gt`, `ge`, `lt`, `le`, `eq` against a
//! variable (with broadcasting) or a scalar.
//!
//! Masks are piecewise constant, so they are recorded as constants: they never have
//! a gradient. Use them with [`Var::where_`], or multiply by them.

use super::or_panic;
use crate::tensor::kernels::{map, zip};
use crate::{Float, Result, Var};

macro_rules! comparisons {
    ($($name:ident, $try_name:ident, $scalar:ident, $op:tt, $doc:literal;)*) => {
        impl<'t, T: Float> Var<'t, T> {
            $(
                #[doc = concat!("Mask `[self ", $doc, " other]` elementwise (broadcasting); a constant.")]
                ///
                /// # Panics
                #[doc = concat!("If the shapes do not broadcast; see [`Var::try_", stringify!($name), "`].")]
                #[track_caller]
                pub fn $name(self, other: Self) -> Self {
                    or_panic(self.$try_name(other))
                }

                #[doc = concat!("[`Var::", stringify!($name), "`], or a shape-mismatch error.")]
                #[track_caller]
                pub fn $try_name(self, other: Self) -> Result<Self> {
                    let m = zip(stringify!($name), &self.value(), &other.value(), |a, b| if a $op b { T::ONE } else { T::ZERO })?;
                    Ok(self.constant_like(m))
                }

                #[doc = concat!("Mask `[self ", $doc, " c]` elementwise; a constant.")]
                #[track_caller]
                pub fn $scalar(self, c: T) -> Self {
                    self.constant_like(map(&self.value(), |a| if a $op c { T::ONE } else { T::ZERO }))
                }
            )*
        }
    };
}

comparisons! {
    gt, try_gt, gt_scalar, >, ">";
    ge, try_ge, ge_scalar, >=, ">=";
    lt, try_lt, lt_scalar, <, "<";
    le, try_le, le_scalar, <=, "<=";
    eq, try_eq, eq_scalar, ==, "==";
}
