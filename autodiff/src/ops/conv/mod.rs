//! Convolutions: `conv2d`, `conv1d` (a `conv2d` of height 1) and `conv_transpose2d`, NCHW / NCL
//! layouts and PyTorch's weight layout `[out, in / groups, kh, kw]`.
//!
//! Three recorded ops close the convolution under differentiation. With the trilinear form
//! `F(x, w, g) = <conv(x, w), g>`:
//! - `conv(x, w)`: `dx = conv_input_grad(g, w)` (the transposed convolution), `dw = conv_weight_grad(x, g)`;
//! - `conv_input_grad(g, w)` (= `dF/dx`), with upstream `u` (shaped as `x`):
//!   `dg = conv(u, w)`, `dw = conv_weight_grad(u, g)`;
//! - `conv_weight_grad(x, g)` (= `dF/dw`), with upstream `v` (shaped as `w`):
//!   `dx = conv_input_grad(g, v)`, `dg = conv(x, v)`.
//!
//! Every rule is again one of the three ops, so derivatives of any order work. The kernels are
//! im2col + GEMM, one sample per rayon task (`kernels.rs`).

mod kernels;

use super::{grads, record};
use crate::error::or_panic;
use crate::error::{arg_err, AutodiffError};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

/// Stride, zero padding, dilation and groups of a convolution over `D` spatial axes, as PyTorch's
/// `conv1d`/`conv2d` arguments (defaults: stride 1, padding 0, dilation 1, groups 1).
///
/// ```
/// use wengert_autodiff::ops::Conv2dArgs;
/// let args = Conv2dArgs::new().stride(2).padding(1);
/// assert_eq!((args.stride, args.padding, args.dilation, args.groups), ([2, 2], [1, 1], [1, 1], 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvArgs<const D: usize> {
    /// Step between output positions, per spatial axis.
    pub stride: [usize; D],
    /// Zeros added on both sides, per spatial axis.
    pub padding: [usize; D],
    /// Spacing between kernel taps, per spatial axis.
    pub dilation: [usize; D],
    /// Input and output channels split into this many independent groups.
    pub groups: usize,
}

/// [`ConvArgs`] of `conv1d`.
pub type Conv1dArgs = ConvArgs<1>;
/// [`ConvArgs`] of `conv2d` and `conv_transpose2d`.
pub type Conv2dArgs = ConvArgs<2>;

impl<const D: usize> Default for ConvArgs<D> {
    fn default() -> Self {
        ConvArgs { stride: [1; D], padding: [0; D], dilation: [1; D], groups: 1 }
    }
}

impl<const D: usize> ConvArgs<D> {
    /// Stride 1, padding 0, dilation 1, groups 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// The same stride on every spatial axis.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s; D];
        self
    }
    /// The same zero padding on every spatial axis.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p; D];
        self
    }
    /// The same dilation on every spatial axis.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d; D];
        self
    }
    /// The number of groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
}

/// Everything about one 2-D convolution's shapes: input `[n, cin, h, w]`, weight `[cout, cin / groups, kh, kw]`,
/// output `[n, cout, oh, ow]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Geom {
    /// Checks the shapes and arguments and computes the output size
    /// `o = (i + 2 p - d (k - 1) - 1) / s + 1` (rounded down), naming `op` in errors.
    pub(crate) fn new(op: &'static str, x: &[usize], wt: &[usize], a: &Conv2dArgs) -> Result<Geom> {
        let bad = |m: String| arg_err::<Geom>(op, m);
        let &[n, cin, h, w] = x else {
            return bad(format!("input must be [batch, channels, height, width], got {x:?}"));
        };
        let &[cout, cin_g, kh, kw] = wt else {
            return bad(format!("weight must be [out, in / groups, kh, kw], got {wt:?}"));
        };
        if a.groups == 0 || a.stride.contains(&0) || a.dilation.contains(&0) {
            return bad(format!(
                "stride {:?}, dilation {:?} and groups {} must be positive",
                a.stride, a.dilation, a.groups
            ));
        }
        if cin % a.groups != 0 || cout % a.groups != 0 || cin_g * a.groups != cin {
            return bad(format!(
                "input {x:?} and weight {wt:?} do not fit {} groups (in channels {cin} = weight dim 1 {cin_g} x groups, \
                 out channels {cout} divisible by groups)",
                a.groups
            ));
        }
        if kh == 0 || kw == 0 || h == 0 || w == 0 {
            return bad(format!("empty kernel or image: input {x:?}, weight {wt:?}"));
        }
        let out = |i: usize, k: usize, ax: usize| {
            let span = a.dilation[ax] * (k - 1) + 1;
            (i + 2 * a.padding[ax]).checked_sub(span).map(|r| r / a.stride[ax] + 1)
        };
        let (Some(oh), Some(ow)) = (out(h, kh, 0), out(w, kw, 1)) else {
            return bad(format!(
                "kernel {:?} with dilation {:?} is larger than the padded input {:?}",
                [kh, kw],
                a.dilation,
                [h + 2 * a.padding[0], w + 2 * a.padding[1]]
            ));
        };
        Ok(Geom {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            oh,
            ow,
            stride: a.stride,
            padding: a.padding,
            dilation: a.dilation,
            groups: a.groups,
        })
    }

    fn cin_g(&self) -> usize {
        self.cin / self.groups
    }
    fn cout_g(&self) -> usize {
        self.cout / self.groups
    }
    /// Rows of the im2col matrix: `cin_g kh kw`.
    fn ck(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }
    fn macs(&self) -> usize {
        self.n * self.cout * self.oh * self.ow * self.ck()
    }
    /// A 1x1 kernel, stride 1, no padding: the input already is its own im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }
    fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }
    fn w_shape(&self) -> [usize; 4] {
        [self.cout, self.cin_g(), self.kh, self.kw]
    }
    fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.oh, self.ow]
    }

    /// Fails unless `g` is this convolution's output shape.
    fn expect_output(&self, op: &'static str, g: &[usize]) -> Result<()> {
        if g != self.y_shape() {
            return Err(AutodiffError::ShapeMismatch { op, lhs: g.into(), rhs: self.y_shape().as_slice().into() });
        }
        Ok(())
    }
}

/// `y = conv(x, w)`: the cross-correlation of PyTorch's `conv2d` (no bias; the bias is a broadcast add).
struct Conv(Conv2dArgs);

/// `dx = conv_input_grad(g, w)`: the transposed convolution, the adjoint of `x -> conv(x, w)`.
/// `hw` is the input's spatial size, which the output size alone does not determine.
struct ConvInputGrad {
    args: Conv2dArgs,
    hw: [usize; 2],
}

/// `dw = conv_weight_grad(x, g)`: the adjoint of `w -> conv(x, w)`, for a kernel of size `k`.
struct ConvWeightGrad {
    args: Conv2dArgs,
    k: [usize; 2],
}

impl<T: Float> Op<T> for Conv {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let geo = Geom::new("conv2d", x[0].shape(), x[1].shape(), &self.0)?;
        Ok(Tensor::from_vec(kernels::forward(x[0].as_slice(), x[1].as_slice(), &geo), &geo.y_shape()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (xs, ws) = (x[0].shape(), x[1].shape());
        grads([
            needs[0].then(|| conv_input_grad(g, x[1], self.0, [xs[2], xs[3]])),
            needs[1].then(|| conv_weight_grad(x[0], g, self.0, [ws[2], ws[3]])),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // Bilinear: d conv(x, w) = conv(dx, w) + conv(x, dw).
        let a = self.0;
        super::tangent_sum([t[0].map(|tx| record(Conv(a), &[tx, x[1]])), t[1].map(|tw| record(Conv(a), &[x[0], tw]))], out)
    }
}

impl ConvInputGrad {
    /// The geometry of the forward convolution whose output has the shape of `g`.
    fn geom(&self, op: &'static str, g: &[usize], w: &[usize]) -> Result<Geom> {
        let (&[n, _, _, _], &[_, cin_g, _, _]) = (g, w) else {
            return arg_err(op, format!("gradient {g:?} and weight {w:?} must be rank 4"));
        };
        let geo = Geom::new(op, &[n, cin_g * self.args.groups, self.hw[0], self.hw[1]], w, &self.args)?;
        geo.expect_output(op, g)?;
        Ok(geo)
    }
}

impl<T: Float> Op<T> for ConvInputGrad {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let geo = self.geom("conv_transpose2d", x[0].shape(), x[1].shape())?;
        Ok(Tensor::from_vec(kernels::input_grad(x[0].as_slice(), x[1].as_slice(), &geo), &geo.x_shape()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, u: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (g, w) = (x[0], x[1]);
        let ws = w.shape();
        grads([
            needs[0].then(|| record(Conv(self.args), &[u, w])),
            needs[1].then(|| conv_weight_grad(u, g, self.args, [ws[2], ws[3]])),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // Bilinear in (g, w).
        let (args, hw) = (self.args, self.hw);
        super::tangent_sum([t[0].map(|tg| conv_input_grad(tg, x[1], args, hw)), t[1].map(|tw| conv_input_grad(x[0], tw, args, hw))], out)
    }
}

impl<T: Float> Op<T> for ConvWeightGrad {
    fn name(&self) -> &'static str {
        "conv2d_weight_grad"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let (xs, gs) = (x[0].shape(), x[1].shape());
        let op = "conv2d_weight_grad";
        let (&[_, cin, _, _], &[_, cout, _, _]) = (xs, gs) else {
            return arg_err(op, format!("input {xs:?} and gradient {gs:?} must be rank 4"));
        };
        let wt = [cout, cin / self.args.groups.max(1), self.k[0], self.k[1]];
        let geo = Geom::new(op, xs, &wt, &self.args)?;
        geo.expect_output(op, gs)?;
        Ok(Tensor::from_vec(kernels::weight_grad(x[0].as_slice(), x[1].as_slice(), &geo), &geo.w_shape()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, v: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (xv, g) = (x[0], x[1]);
        let xs = xv.shape();
        grads([
            needs[0].then(|| conv_input_grad(g, v, self.args, [xs[2], xs[3]])),
            needs[1].then(|| record(Conv(self.args), &[xv, v])),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // Bilinear in (x, g).
        let (args, k) = (self.args, self.k);
        super::tangent_sum([t[0].map(|tx| conv_weight_grad(tx, x[1], args, k)), t[1].map(|tg| conv_weight_grad(x[0], tg, args, k))], out)
    }
}

fn conv_input_grad<'t, T: Float>(g: Var<'t, T>, w: Var<'t, T>, args: Conv2dArgs, hw: [usize; 2]) -> Var<'t, T> {
    record(ConvInputGrad { args, hw }, &[g, w])
}

fn conv_weight_grad<'t, T: Float>(x: Var<'t, T>, g: Var<'t, T>, args: Conv2dArgs, k: [usize; 2]) -> Var<'t, T> {
    record(ConvWeightGrad { args, k }, &[x, g])
}

/// `y + bias` with the bias along axis 1 of `y`, after checking it has `channels` entries.
///
/// The bias is broadcast over `[channels, spatial]` first and then over the batch, so that each broadcast's
/// gradient is a sum over one contiguous run of axes (a sum over axes 0, 2, 3 at once copies a transpose).
fn add_bias<'t, T: Float>(op: &'static str, y: Var<'t, T>, bias: Option<Var<'t, T>>) -> Result<Var<'t, T>> {
    let Some(b) = bias else { return Ok(y) };
    let ys = y.shape();
    let (n, c, plane) = (ys[0], ys[1], ys[2..].iter().product::<usize>());
    if b.shape().as_slice() != [c] {
        return arg_err(op, format!("bias must have shape [{c}], got {:?}", b.shape().as_slice()));
    }
    let b = b.reshape(&[c, 1]).broadcast_to(&[c, plane]);
    Ok((y.reshape(&[n, c, plane]) + b).reshape(&ys))
}

impl<'t, T: Float> Var<'t, T> {
    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) of `self` `[n, cin, h, w]` with
    /// `weight` `[cout, cin / groups, kh, kw]`, plus an optional `bias` `[cout]`:
    ///
    /// `y[n, co, oy, ox] = b[co] + sum_{ci, i, j} w[co, ci, i, j] x[n, g cin_g + ci, oy s0 + i d0 - p0, ox s1 + j d1 - p1]`
    ///
    /// with `g = co / cout_g` the group of `co`, zeros outside the input, and output size
    /// `o = floor((in + 2 p - d (k - 1) - 1) / s) + 1` per axis.
    /// Its derivatives are a transposed convolution (input) and a correlation (weight), both recorded
    /// ops with rules of their own: derivatives of any order work.
    ///
    /// ```
    /// use wengert_autodiff::{ops::Conv2dArgs, Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::ones(&[1, 1, 3, 3]));
    /// let w = tape.var(Tensor::ones(&[1, 1, 2, 2]));
    /// let y = x.conv2d(w, None, &Conv2dArgs::new());
    /// assert_eq!(y.value().to_vec(), vec![4.0; 4]);
    /// // each input pixel is read by as many windows as cover it: corners 1, edges 2, centre 4
    /// let dx = tape.grad(y.sum(), &[x]).value(0);
    /// assert_eq!(dx.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes or arguments do not fit; see [`Var::try_conv2d`].
    #[track_caller]
    pub fn conv2d(self, weight: Self, bias: Option<Self>, args: &Conv2dArgs) -> Self {
        or_panic(self.try_conv2d(weight, bias, args))
    }

    /// [`Var::conv2d`], or an error naming the shapes and arguments that do not fit.
    #[track_caller]
    pub fn try_conv2d(self, weight: Self, bias: Option<Self>, args: &Conv2dArgs) -> Result<Self> {
        let y = self.tape().apply(Conv(*args), &[self, weight])?;
        add_bias("conv2d", y, bias)
    }

    /// 1-D convolution (as PyTorch's `conv1d`) of `self` `[n, cin, l]` with `weight` `[cout, cin / groups, k]`
    /// and an optional `bias` `[cout]`: `y[n, co, o] = b[co] + sum_{ci, j} w[co, ci, j] x[n, g cin_g + ci, o s + j d - p]`,
    /// output length `floor((l + 2 p - d (k - 1) - 1) / s) + 1`. It is [`Var::conv2d`] over a height of 1.
    ///
    /// # Panics
    /// If the shapes or arguments do not fit; see [`Var::try_conv1d`].
    #[track_caller]
    pub fn conv1d(self, weight: Self, bias: Option<Self>, args: &Conv1dArgs) -> Self {
        or_panic(self.try_conv1d(weight, bias, args))
    }

    /// [`Var::conv1d`], or an error naming the shapes and arguments that do not fit.
    #[track_caller]
    pub fn try_conv1d(self, weight: Self, bias: Option<Self>, args: &Conv1dArgs) -> Result<Self> {
        let (xs, ws) = (self.shape(), weight.shape());
        let (&[n, c, l], &[o, cg, k]) = (xs.as_slice(), ws.as_slice()) else {
            return arg_err(
                "conv1d",
                format!("input {xs:?} must be [batch, channels, length] and weight {ws:?} [out, in / groups, k]"),
            );
        };
        let a2 = ConvArgs {
            stride: [1, args.stride[0]],
            padding: [0, args.padding[0]],
            dilation: [1, args.dilation[0]],
            groups: args.groups,
        };
        let y = self.tape().apply(Conv(a2), &[self.reshape(&[n, c, 1, l]), weight.reshape(&[o, cg, 1, k])])?;
        let ol = y.shape()[3];
        add_bias("conv1d", y.reshape(&[n, o, ol]), bias)
    }

    /// 2-D transposed convolution (as PyTorch's `conv_transpose2d`) of `self` `[n, cin, h, w]` with
    /// `weight` `[cin, cout / groups, kh, kw]` and an optional `bias` `[cout]`: the adjoint of
    /// `conv2d(., weight)` with the same `args`, i.e. the gradient of a `conv2d` with respect to its input.
    /// Output size per axis: `(in - 1) s - 2 p + d (k - 1) + output_padding + 1`.
    ///
    /// # Panics
    /// If the shapes or arguments do not fit; see [`Var::try_conv_transpose2d`].
    #[track_caller]
    pub fn conv_transpose2d(
        self,
        weight: Self,
        bias: Option<Self>,
        args: &Conv2dArgs,
        output_padding: [usize; 2],
    ) -> Self {
        or_panic(self.try_conv_transpose2d(weight, bias, args, output_padding))
    }

    /// [`Var::conv_transpose2d`], or an error naming the shapes and arguments that do not fit
    /// (`output_padding` must be smaller than the stride, and the output must not be empty).
    #[track_caller]
    pub fn try_conv_transpose2d(
        self,
        weight: Self,
        bias: Option<Self>,
        args: &Conv2dArgs,
        output_padding: [usize; 2],
    ) -> Result<Self> {
        let (xs, ws) = (self.shape(), weight.shape());
        let op = "conv_transpose2d";
        let (&[_, _, h, w], &[_, _, kh, kw]) = (xs.as_slice(), ws.as_slice()) else {
            return arg_err(
                op,
                format!("input {xs:?} must be [batch, channels, h, w] and weight {ws:?} [in, out / groups, kh, kw]"),
            );
        };
        if (0..2).any(|a| output_padding[a] >= args.stride[a]) {
            return arg_err(
                op,
                format!("output_padding {output_padding:?} must be smaller than the stride {:?}", args.stride),
            );
        }
        let size = |i: usize, k: usize, a: usize| {
            ((i.max(1) - 1) * args.stride[a] + args.dilation[a] * k.max(1) + output_padding[a] + 1 - args.dilation[a])
                .checked_sub(2 * args.padding[a])
                .filter(|&o| o > 0)
        };
        let (Some(oh), Some(ow)) = (size(h, kh, 0), size(w, kw, 1)) else {
            return arg_err(op, format!("input {xs:?}, weight {ws:?} and {args:?} give an empty output"));
        };
        let y = self.tape().apply(ConvInputGrad { args: *args, hw: [oh, ow] }, &[self, weight])?;
        add_bias(op, y, bias)
    }
}
