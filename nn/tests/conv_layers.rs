//! `Conv1d` and `Conv2d` layers against a direct loop over the definition (stride, zero padding, dilation,
//! groups, bias), their output sizes, and `Conv1d` gradient checks at orders 1 and 2 with respect to the
//! input and to the parameters. (`Conv2d` against PyTorch: `torch_layers.rs`.)

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::gradcheck::{gradcheck, hvp_check, GradCheckConfig};
use wengert_autodiff::ops::{Conv1dArgs, Conv2dArgs};
use wengert_autodiff::{Tape, Tensor, Var};
use wengert_nn::layers::{Conv1d, Conv2d};
use wengert_nn::{Bound, Module, Parameters};

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn forward<M: Module<f64>>(m: &M, x: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::new();
    m.forward(&Bound::new(&tape, m), tape.constant(x.clone())).value()
}

/// `y[n, o, p] = b[o] + sum_{c, k} w[o, c, k] x[n, g*cin_g + c, p*s + k*d - pad]`, zero outside.
fn conv1d_reference(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
    (s, pad, d, groups): (usize, usize, usize, usize),
) -> Tensor<f64> {
    let (n, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cout, cin_g, k) = (w.shape()[0], w.shape()[1], w.shape()[2]);
    assert_eq!(cin, cin_g * groups);
    let lout = (l + 2 * pad - d * (k - 1) - 1) / s + 1;
    let (xs, ws) = (x.as_slice(), w.as_slice());
    let mut y = vec![0.0; n * cout * lout];
    for ni in 0..n {
        for o in 0..cout {
            let g = o / (cout / groups);
            for p in 0..lout {
                let mut acc = b.map_or(0.0, |b| b.as_slice()[o]);
                for c in 0..cin_g {
                    for ki in 0..k {
                        let pos = (p * s + ki * d) as isize - pad as isize;
                        if pos >= 0 && (pos as usize) < l {
                            acc += ws[(o * cin_g + c) * k + ki] * xs[(ni * cin + g * cin_g + c) * l + pos as usize];
                        }
                    }
                }
                y[(ni * cout + o) * lout + p] = acc;
            }
        }
    }
    Tensor::from_vec(y, &[n, cout, lout])
}

fn max_diff(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn conv1d_layer_follows_the_definition_with_stride_padding_dilation_and_groups() {
    let mut rng = StdRng::seed_from_u64(1);
    for &(s, pad, d, groups, bias) in
        &[(1, 0, 1, 1, true), (2, 1, 1, 1, true), (1, 2, 2, 2, true), (3, 1, 2, 2, false), (1, 0, 1, 4, true)]
    {
        let args = Conv1dArgs::new().stride(s).padding(pad).dilation(d).groups(groups);
        let mut conv = Conv1d::<f64>::new(4, 8, [3], args, &mut rng);
        if !bias {
            conv = conv.without_bias();
        }
        let x = randn(&[2, 4, 11], 2);
        let y = forward(&conv, &x);
        let want =
            conv1d_reference(&x, conv.weight.value(), conv.bias.as_ref().map(|b| b.value()), (s, pad, d, groups));
        let lout = (11 + 2 * pad - d * 2 - 1) / s + 1;
        assert_eq!(y.shape(), &[2, 8, lout], "stride {s}, padding {pad}, dilation {d}");
        assert!(max_diff(&y, &want) < 1e-13, "stride {s} padding {pad} dilation {d} groups {groups}");
        assert_eq!(conv.num_parameters(), 8 * (4 / groups) * 3 + if bias { 8 } else { 0 });
    }
}

#[test]
fn conv2d_layer_equals_the_sum_of_conv1d_over_kernel_rows() {
    // a 2-d correlation with a [kh, kw] kernel is the sum over kernel rows r of 1-d correlations along the
    // width of input row (i*s + r*d - pad): an independent check of the 2-d op against the 1-d definition
    let mut rng = StdRng::seed_from_u64(3);
    let (s, pad, d) = (2, 1, 1);
    let conv = Conv2d::<f64>::new(2, 3, [2, 3], Conv2dArgs::new().stride(s).padding(pad).dilation(d), &mut rng);
    let x = randn(&[1, 2, 5, 6], 4);
    let y = forward(&conv, &x);
    let (h, w) = (5, 6);
    let (hout, wout) = ((h + 2 * pad - d - 1) / s + 1, (w + 2 * pad - 2 * d - 1) / s + 1);
    assert_eq!(y.shape(), &[1, 3, hout, wout]);
    let wt = conv.weight.value();
    for i in 0..hout {
        let mut acc = Tensor::<f64>::zeros(&[1, 3, wout]);
        for r in 0..2 {
            let row = (i * s + r * d) as isize - pad as isize;
            if row < 0 || row as usize >= h {
                continue;
            }
            let xr: Vec<f64> = (0..2)
                .flat_map(|c| (0..w).map(move |j| (c, j)))
                .map(|(c, j)| x.as_slice()[(c * h + row as usize) * w + j])
                .collect();
            let wr: Vec<f64> = (0..3)
                .flat_map(|o| (0..2).flat_map(move |c| (0..3).map(move |k| (o, c, k))))
                .map(|(o, c, k)| wt.as_slice()[((o * 2 + c) * 2 + r) * 3 + k])
                .collect();
            let part = conv1d_reference(
                &Tensor::from_vec(xr, &[1, 2, w]),
                &Tensor::from_vec(wr, &[3, 2, 3]),
                None,
                (s, pad, d, 1),
            );
            acc = Tensor::from_vec(
                acc.as_slice().iter().zip(part.as_slice()).map(|(a, b)| a + b).collect(),
                &[1, 3, wout],
            );
        }
        for o in 0..3 {
            for j in 0..wout {
                let want = acc.as_slice()[o * wout + j] + conv.bias.as_ref().unwrap().value().as_slice()[o];
                let got = y.as_slice()[(o * hout + i) * wout + j];
                assert!((got - want).abs() < 1e-13, "y[0, {o}, {i}, {j}] = {got}, want {want}");
            }
        }
    }
}

/// `sum(c * tanh(y))`: nonlinear, so the second derivatives of a layer linear in its input do not vanish.
fn objective<'t>(y: Var<'t, f64>) -> Var<'t, f64> {
    let c = Tensor::from_vec((0..y.numel()).map(|i| 0.3 + 0.07 * (i % 13) as f64).collect(), &y.shape());
    (y.tanh() * y.constant_like(c)).sum()
}

#[test]
fn conv1d_layer_passes_gradcheck_at_orders_1_and_2() {
    let args = Conv1dArgs::new().stride(2).padding(1).dilation(2).groups(2);
    let conv = Conv1d::<f64>::new(4, 6, [3], args, &mut StdRng::seed_from_u64(5));
    let x = randn(&[2, 4, 9], 6);
    let cfg = GradCheckConfig::default();
    fn wrt_input<'t>(conv: &Conv1d<f64>, v: &[Var<'t, f64>]) -> Var<'t, f64> {
        objective(conv.forward(&Bound::new(v[0].tape(), conv), v[0]))
    }
    fn wrt_params<'t>(conv: &Conv1d<f64>, x: &Tensor<f64>, v: &[Var<'t, f64>]) -> Var<'t, f64> {
        let tape = v[0].tape();
        objective(conv.forward(&Bound::with_vars(tape, conv, v), tape.constant(x.clone())))
    }
    let xs = std::slice::from_ref(&x);
    gradcheck(|v| wrt_input(&conv, v), xs, &cfg).expect("conv1d input, order 1");
    hvp_check(|v| wrt_input(&conv, v), xs, &cfg).expect("conv1d input, order 2");
    let params: Vec<Tensor<f64>> = conv.named_parameters().into_iter().map(|(_, t)| t).collect();
    gradcheck(|v| wrt_params(&conv, &x, v), &params, &cfg).expect("conv1d parameters, order 1");
    hvp_check(|v| wrt_params(&conv, &x, v), &params, &cfg).expect("conv1d parameters, order 2");
}

#[test]
#[should_panic(expected = "Conv1d: input of shape [2, 3, 9] for a layer with 4 input channels")]
fn conv1d_names_itself_and_the_shapes_on_a_wrong_input() {
    let conv = Conv1d::<f64>::new(4, 6, [3], Conv1dArgs::new(), &mut StdRng::seed_from_u64(0));
    forward(&conv, &randn(&[2, 3, 9], 0));
}
