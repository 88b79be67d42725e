//! [`Conv1d`] and [`Conv2d`]: convolution layers over the tape's `conv1d` / `conv2d` ops.

use rand::Rng;
use wengert_autodiff::ops::{Conv1dArgs, Conv2dArgs, ConvArgs};
use wengert_autodiff::{Float, Tensor, Var};

use crate::{init, join_name, Bound, CaptureKind, LayerCapture, Module, Param, Parameters};

/// A convolution over `D` spatial axes, as PyTorch's `nn.Conv1d` (`D = 1`, input `[N, C_in, L]`)
/// and `nn.Conv2d` (`D = 2`, input `[N, C_in, H, W]`); use the aliases [`Conv1d`] and [`Conv2d`].
///
/// `y[n, o, p] = bias[o] + sum_{c, k} weight[o, c, k] x[n, g C_in/G + c, p s + k d - pad]`
/// (cross-correlation, as every deep-learning library), with stride `s`, zero padding `pad`,
/// dilation `d` and `G` groups ([`ConvArgs`]); output size `floor((i + 2 pad - d (k - 1) - 1) / s) + 1`
/// per axis. The op's derivatives are themselves recorded convolutions, so the layer is
/// differentiable to any order.
///
/// With a capturing [`Bound`] (K-FAC), a `Conv2d` forward pass records a [`LayerCapture`] of its input and
/// output (a `Conv1d` records none).
///
/// Parameters (PyTorch's names): `weight` `[C_out, C_in / G, k..]` and `bias` `[C_out]`. Default
/// initialisation as PyTorch: both `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
/// `fan_in = C_in / G * prod(k)` (`kaiming_uniform(a = sqrt(5))` for the weight), weight drawn first.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use wengert_autodiff::{ops::Conv2dArgs, Tape, Tensor};
/// use wengert_nn::layers::Conv2d;
/// use wengert_nn::{Bound, Module, Parameters};
///
/// let conv = Conv2d::<f32>::new(1, 8, [3, 3], Conv2dArgs::new().padding(1), &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let y = conv.forward(&Bound::new(&tape, &conv), tape.constant(Tensor::ones(&[2, 1, 8, 8])));
/// assert_eq!(y.shape().as_slice(), &[2, 8, 8, 8]);
/// assert_eq!(conv.num_parameters(), 8 * 9 + 8);
/// ```
#[derive(Clone, Debug)]
pub struct Conv<T: Float, const D: usize> {
    /// `weight`, `[C_out, C_in / G, k..]`.
    pub weight: Param<T>,
    /// `bias`, `[C_out]`, if the layer has one.
    pub bias: Option<Param<T>>,
    /// Stride, padding, dilation and groups.
    pub args: ConvArgs<D>,
}

/// 1-D convolution of `[N, C_in, L]` inputs (PyTorch's `nn.Conv1d`); see [`Conv`].
pub type Conv1d<T> = Conv<T, 1>;
/// 2-D convolution of `[N, C_in, H, W]` inputs (PyTorch's `nn.Conv2d`); see [`Conv`].
pub type Conv2d<T> = Conv<T, 2>;

impl<T: Float, const D: usize> Conv<T, D> {
    /// A layer from `in_channels` to `out_channels` with kernel size `kernel`, with bias, initialised
    /// as PyTorch (see the type's docs).
    ///
    /// # Panics
    /// If `args.groups` is zero or does not divide both channel counts, or a kernel size is zero.
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; D],
        args: ConvArgs<D>,
        rng: &mut R,
    ) -> Self {
        let g = args.groups;
        assert!(
            g > 0 && in_channels.is_multiple_of(g) && out_channels.is_multiple_of(g),
            "Conv{D}d: groups ({g}) must divide in_channels ({in_channels}) and out_channels ({out_channels})"
        );
        assert!(kernel.iter().all(|&k| k > 0), "Conv{D}d: kernel size {kernel:?} has a zero");
        let mut shape = vec![out_channels, in_channels / g];
        shape.extend_from_slice(&kernel);
        let fan_in = in_channels / g * kernel.iter().product::<usize>();
        let bound = 1.0 / (fan_in as f64).sqrt();
        let weight = init::uniform(&shape, -bound, bound, rng);
        let bias = init::uniform(&[out_channels], -bound, bound, rng);
        Conv { weight: Param::new(weight), bias: Some(Param::new(bias)), args }
    }

    /// The layer without its bias (PyTorch's `bias=False`), e.g. before a batch norm.
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self
    }

    /// A layer with the given `weight` `[C_out, C_in / G, k..]` and optional `bias` `[C_out]`.
    ///
    /// # Panics
    /// If `weight` does not have `D + 2` axes or `bias` is not `[C_out]`.
    #[track_caller]
    pub fn from_tensors(weight: Tensor<T>, bias: Option<Tensor<T>>, args: ConvArgs<D>) -> Self {
        assert!(weight.ndim() == D + 2, "Conv{D}d: weight {:?} must have {} axes", weight.shape(), D + 2);
        if let Some(b) = &bias {
            assert!(b.shape() == [weight.shape()[0]], "Conv{D}d: bias {:?} for weight {:?}", b.shape(), weight.shape());
        }
        Conv { weight: Param::new(weight), bias: bias.map(Param::new), args }
    }

    /// Output channels `C_out`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Input channels `C_in`.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.args.groups
    }
}

impl<T: Float, const D: usize> Parameters<T> for Conv<T, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        f(&join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(&join_name(prefix, "bias"), b);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        f(&join_name(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(&join_name(prefix, "bias"), b);
        }
    }
}

impl<T: Float, const D: usize> Module<T> for Conv<T, D> {
    /// See [`Conv`].
    ///
    /// # Panics
    /// If `x` is not `[N, C_in, ..]` with `D` spatial axes, or the output would be empty (the op's
    /// error names the shapes and arguments).
    #[track_caller]
    fn forward<'t>(&self, p: &Bound<'t, T>, x: Var<'t, T>) -> Var<'t, T> {
        let s = x.shape();
        assert!(
            s.len() == D + 2 && s[1] == self.in_channels(),
            "Conv{D}d: input of shape {:?} for a layer with {} input channels (expected [N, {}, {} spatial axes])",
            s.as_slice(),
            self.in_channels(),
            self.in_channels(),
            D
        );
        let w = p.var(&self.weight);
        let b = self.bias.as_ref().map(|b| p.var(b));
        let a = &self.args;
        match D {
            1 => {
                let a1 = Conv1dArgs {
                    stride: [a.stride[0]],
                    padding: [a.padding[0]],
                    dilation: [a.dilation[0]],
                    groups: a.groups,
                };
                x.conv1d(w, b, &a1)
            }
            _ => {
                let a2 = Conv2dArgs {
                    stride: [a.stride[0], a.stride[D - 1]],
                    padding: [a.padding[0], a.padding[D - 1]],
                    dilation: [a.dilation[0], a.dilation[D - 1]],
                    groups: a.groups,
                };
                let y = x.conv2d(w, b, &a2);
                if D == 2 && p.is_capturing() {
                    let k = self.weight.shape();
                    p.capture(LayerCapture {
                        kind: CaptureKind::Conv2d { kernel: [k[2], k[3]], args: a2 },
                        input: x,
                        output: y,
                        weight: self.weight.id(),
                        bias: self.bias.as_ref().map(Param::id),
                    });
                }
                y
            }
        }
    }
}
