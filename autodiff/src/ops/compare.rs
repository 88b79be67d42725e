//! Comparisons producing masks of `0` and `1`: `gt`, `ge`, `lt`, `le`, `eq` against a
//! variable (with broadcasting) or a scalar.
//!
//! Masks are piecewise constant, so they are recorded as constants: they never have
//! a gradient. Use them with [`Var::where_`], or multiply by them.

use crate::tensor::kernels::{map, zip};
use crate::{Float, Var};

macro_rules! comparisons {
    ($($name:ident, $scalar:ident, $op:tt, $doc:literal;)*) => {
        impl<'t, T: Float> Var<'t, T> {
            $(
                #[doc = concat!("Mask `[self ", $doc, " other]` elementwise (broadcasting); a constant.")]
                ///
                /// # Panics
                /// If the shapes do not broadcast.
                #[track_caller]
                pub fn $name(self, other: Self) -> Self {
                    let m = zip(stringify!($name), &self.value(), &other.value(), |a, b| if a $op b { T::ONE } else { T::ZERO })
                        .unwrap_or_else(|e| panic!("{e}"));
                    self.constant_like(m)
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
    gt, gt_scalar, >, ">";
    ge, ge_scalar, >=, ">=";
    lt, lt_scalar, <, "<";
    le, le_scalar, <=, "<=";
    eq, eq_scalar, ==, "==";
}
