//! Safetensors checkpoints: bit-exact round trips, bad files, atomic writes, model helpers.

use std::path::{Path, PathBuf};

use wengert_autodiff::{Float, Tensor};
use wengert_nn::checkpoint::{self, CheckpointError, CHECKSUM_KEY};
use wengert_nn::{Param, Parameters, StateDict};

/// A fresh, empty directory for one test.
fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wengert-ckpt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Names of the files in `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    v.sort();
    v
}

/// A two-layer "model": `layers.0.weight`, `layers.0.bias`, `layers.1.weight` (names through `visit`).
struct Toy<T: Float> {
    w0: Param<T>,
    b0: Param<T>,
    w1: Param<T>,
}

impl<T: Float> Parameters<T> for Toy<T> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param<T>)) {
        let p = wengert_nn::join_name(prefix, "layers");
        f(&format!("{p}.0.weight"), &self.w0);
        f(&format!("{p}.0.bias"), &self.b0);
        f(&format!("{p}.1.weight"), &self.w1);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<T>)) {
        let p = wengert_nn::join_name(prefix, "layers");
        f(&format!("{p}.0.weight"), &mut self.w0);
        f(&format!("{p}.0.bias"), &mut self.b0);
        f(&format!("{p}.1.weight"), &mut self.w1);
    }
}

fn toy<T: Float>(offset: f64) -> Toy<T> {
    let t = |n: usize, shape: &[usize]| {
        Tensor::from_vec((0..n).map(|i| T::from_f64(offset + 0.25 * i as f64 - 1.0)).collect(), shape)
    };
    Toy { w0: Param::new(t(6, &[3, 2])), b0: Param::new(t(3, &[3])), w1: Param::new(t(3, &[1, 3])) }
}

/// Special values whose bits must survive: signed zero, subnormals, infinities, extremes.
fn specials<T: Float>() -> Vec<T> {
    let tiny = if T::DTYPE == "f32" { f32::from_bits(1) as f64 } else { f64::from_bits(1) };
    let sub = if T::DTYPE == "f32" { f32::MIN_POSITIVE as f64 / 3.0 } else { f64::MIN_POSITIVE / 3.0 };
    vec![
        T::from_f64(-0.0),
        T::ZERO,
        T::from_f64(tiny),
        T::from_f64(-sub),
        T::INFINITY,
        T::NEG_INFINITY,
        T::MAX,
        -T::MAX,
        T::EPSILON,
        T::from_f64(0.1),
        T::from_f64(-1.0 / 3.0),
    ]
}

fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
    t.as_slice().iter().map(|x| x.to_f64().to_bits()).collect()
}

fn roundtrip_bit_exact<T: Float>() {
    let dir = tmp_dir(&format!("rt-{}", T::DTYPE));
    let path = dir.join("s.safetensors");
    let mut sd = StateDict::<T>::new();
    sd.tensors.insert("layers.0.weight".into(), Tensor::from_vec(specials::<T>(), &[11]));
    sd.tensors.insert("scalar".into(), Tensor::scalar(T::from_f64(2.5)));
    sd.tensors.insert("optim.layers.0.weight.exp_avg".into(), Tensor::from_vec(specials::<T>()[..6].to_vec(), &[2, 3]));
    sd.tensors.insert("empty".into(), Tensor::zeros(&[0, 4]));
    sd.metadata.insert("optim.step".into(), "17".into());
    sd.metadata.insert("optim.lr".into(), wengert_nn::f64_to_meta(1e-3));
    checkpoint::save(&path, &sd).unwrap();
    let back = checkpoint::load::<T>(&path).unwrap();
    assert_eq!(back.metadata, sd.metadata);
    assert_eq!(back.tensors.keys().collect::<Vec<_>>(), sd.tensors.keys().collect::<Vec<_>>());
    for (k, t) in &sd.tensors {
        assert_eq!(back.tensors[k].shape(), t.shape(), "{k}");
        assert_eq!(bits(&back.tensors[k]), bits(t), "{k}");
    }
    assert_eq!(files(&dir), vec!["s.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roundtrip_is_bit_exact_f32() {
    roundtrip_bit_exact::<f32>();
}

#[test]
fn roundtrip_is_bit_exact_f64() {
    roundtrip_bit_exact::<f64>();
}

#[test]
fn file_layout_is_standard_safetensors() {
    // 8-byte little-endian header length, JSON header with dtype/shape/data_offsets, then data.
    let dir = tmp_dir("layout");
    let path = dir.join("m.safetensors");
    let m = toy::<f32>(0.0);
    checkpoint::save_model(&path, &m).unwrap();
    let buf = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&buf[8..8 + n]).unwrap();
    assert!(header.contains(r#""layers.0.weight":{"dtype":"F32","shape":[3,2]"#), "{header}");
    assert!(header.contains("__metadata__") && header.contains(CHECKSUM_KEY), "{header}");
    assert_eq!(buf.len(), 8 + n + 4 * (6 + 3 + 3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn model_roundtrip_and_extra_keys_ignored() {
    let dir = tmp_dir("model");
    let path = dir.join("m.safetensors");
    let m = toy::<f64>(0.5);
    let mut sd = checkpoint::state_dict(&m);
    let mut opt = StateDict::new();
    opt.tensors.insert("layers.0.weight.exp_avg".into(), Tensor::<f64>::ones(&[7]));
    opt.metadata.insert("step".into(), "3".into());
    sd.merge_prefixed("optim", opt);
    checkpoint::save(&path, &sd).unwrap();
    let mut fresh = toy::<f64>(9.0);
    assert_ne!(bits(fresh.w0.value()), bits(m.w0.value()));
    checkpoint::load_model(&path, &mut fresh).unwrap();
    for ((n, a), (_, b)) in fresh.named_parameters().iter().zip(m.named_parameters().iter()) {
        assert_eq!(bits(a), bits(b), "{n}");
    }
    // identity of params is kept (only values are replaced)
    let id = fresh.w0.id();
    checkpoint::load_model(&path, &mut fresh).unwrap();
    assert_eq!(fresh.w0.id(), id);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Asserts `model` still holds exactly the values of `reference`.
fn assert_untouched<T: Float>(model: &Toy<T>, reference: &Toy<T>) {
    for ((n, a), (_, b)) in model.named_parameters().iter().zip(reference.named_parameters().iter()) {
        assert_eq!(bits(a), bits(b), "{n} was modified by a failed load");
    }
}

#[test]
fn missing_tensor_wrong_shape_wrong_dtype_are_errors_and_leave_model_untouched() {
    let dir = tmp_dir("bad-model");
    let path = dir.join("m.safetensors");
    let reference = toy::<f32>(3.0);
    let mut model = toy::<f32>(3.0);

    // Missing tensor: drop `layers.1.weight` (the last one visited: earlier ones must not be written).
    let mut sd = checkpoint::state_dict(&toy::<f32>(0.0));
    sd.tensors.remove("layers.1.weight");
    checkpoint::save(&path, &sd).unwrap();
    let e = checkpoint::load_model(&path, &mut model).unwrap_err();
    assert!(matches!(&e, CheckpointError::Missing { name } if name == "layers.1.weight"), "{e}");
    assert!(e.to_string().contains("layers.1.weight"));
    assert_untouched(&model, &reference);

    // Wrong shape.
    let mut sd = checkpoint::state_dict(&toy::<f32>(0.0));
    sd.tensors.insert("layers.1.weight".into(), Tensor::zeros(&[3, 1]));
    checkpoint::save(&path, &sd).unwrap();
    let e = checkpoint::load_model(&path, &mut model).unwrap_err();
    match &e {
        CheckpointError::Shape { name, expected, found } => {
            assert_eq!(
                (name.as_str(), expected.as_slice(), found.as_slice()),
                ("layers.1.weight", &[1, 3][..], &[3, 1][..])
            )
        }
        other => panic!("expected a shape error, got {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("[3, 1]") && msg.contains("[1, 3]"), "{msg}");
    assert_untouched(&model, &reference);

    // Wrong dtype: an f64 file loaded as f32.
    checkpoint::save_model(&path, &toy::<f64>(0.0)).unwrap();
    let e = checkpoint::load_model(&path, &mut model).unwrap_err();
    assert!(matches!(&e, CheckpointError::DType { expected, found, .. } if expected == "F32" && found == "F64"), "{e}");
    assert_untouched(&model, &reference);
    let e = checkpoint::load::<f32>(&path).unwrap_err();
    assert!(e.to_string().contains("F64") && e.to_string().contains("layers."), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_files_are_format_errors() {
    let dir = tmp_dir("trunc");
    let good = dir.join("good.safetensors");
    checkpoint::save_model(&good, &toy::<f64>(0.0)).unwrap();
    let buf = std::fs::read(&good).unwrap();
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    let bad = dir.join("bad.safetensors");
    for len in [0, 1, 7, 8, 9, 8 + n / 2, 8 + n - 1, 8 + n, 8 + n + 1, buf.len() - 8, buf.len() - 1] {
        std::fs::write(&bad, &buf[..len]).unwrap();
        let e = checkpoint::load::<f64>(&bad).unwrap_err();
        assert!(matches!(e, CheckpointError::Format { .. }), "truncated at {len}: {e}");
        assert!(e.to_string().contains("bad.safetensors"), "{e}");
    }
    // Trailing garbage is also rejected.
    let mut long = buf.clone();
    long.extend_from_slice(&[0; 8]);
    std::fs::write(&bad, &long).unwrap();
    assert!(matches!(checkpoint::load::<f64>(&bad), Err(CheckpointError::Format { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_headers_and_lengths_are_errors_never_panics() {
    let dir = tmp_dir("corrupt");
    let good = dir.join("good.safetensors");
    let model = toy::<f32>(0.0);
    checkpoint::save_model(&good, &model).unwrap();
    let buf = std::fs::read(&good).unwrap();
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    let bad = dir.join("bad.safetensors");
    let write = |b: &[u8]| std::fs::write(&bad, b).unwrap();

    // Bogus header lengths.
    for len in [u64::MAX, 1 << 40, (buf.len() as u64) * 2, n as u64 + 1, n as u64 - 1, 0] {
        let mut b = buf.clone();
        b[..8].copy_from_slice(&len.to_le_bytes());
        write(&b);
        let e = checkpoint::load::<f32>(&bad).unwrap_err();
        assert!(matches!(e, CheckpointError::Format { .. }), "header length {len}: {e}");
    }
    // Targeted header damage: the opening brace, a dtype letter, a shape digit.
    let header = std::str::from_utf8(&buf[8..8 + n]).unwrap().to_string();
    let dtype_at = 8 + header.find("\"F32\"").unwrap() + 1;
    let shape_at = 8 + header.find("\"shape\":[3,2]").unwrap() + 9;
    for at in [8, dtype_at, shape_at] {
        let mut b = buf.clone();
        b[at] ^= 0x04;
        write(&b);
        assert!(checkpoint::load::<f32>(&bad).is_err(), "flip at {at} ({:?}) was accepted", buf[at] as char);
    }
    // Any single flipped header bit: an error, or a file whose loading into the model fails
    // (a renamed tensor), never a panic and never silently different weights.
    let mut fresh = toy::<f32>(5.0);
    for at in 8..8 + n {
        let mut b = buf.clone();
        b[at] ^= 0x01;
        write(&b);
        if checkpoint::load_model(&bad, &mut fresh).is_ok() {
            for ((k, a), (_, m)) in fresh.named_parameters().iter().zip(model.named_parameters().iter()) {
                assert_eq!(bits(a), bits(m), "flip at {at} loaded different weights for {k}");
            }
        }
    }
    // A flipped data byte is caught by the checksum.
    let mut b = buf.clone();
    let last = b.len() - 2;
    b[last] ^= 0x10;
    write(&b);
    let e = checkpoint::load::<f32>(&bad).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_without_checksum_load() {
    // A minimal file as other tools write it (no __metadata__): one F32 tensor [2] = [1.5, -2].
    let dir = tmp_dir("foreign");
    let path = dir.join("x.safetensors");
    let header = br#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&1.5f32.to_le_bytes());
    b.extend_from_slice(&(-2.0f32).to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let sd = checkpoint::load::<f32>(&path).unwrap();
    assert_eq!(sd.tensors["x"].as_slice(), &[1.5, -2.0]);
    assert!(sd.metadata.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_save_keeps_old_file_and_leaves_no_partial_file() {
    let dir = tmp_dir("atomic");
    let path = dir.join("m.safetensors");
    checkpoint::save_model(&path, &toy::<f64>(1.0)).unwrap();
    let before = std::fs::read(&path).unwrap();

    // A writer that fails halfway.
    let e = checkpoint::write_atomic(&path, |w| {
        w.write_all(b"partial").unwrap();
        Err(CheckpointError::Io { path: path.clone(), action: "write", source: std::io::Error::other("disk full") })
    })
    .unwrap_err();
    assert!(e.to_string().contains("disk full"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(files(&dir), vec!["m.safetensors"]);

    // A writer that panics: the temporary file is removed while unwinding.
    let r = std::panic::catch_unwind(|| {
        let _ = checkpoint::write_atomic(&path, |w| {
            w.write_all(b"partial").unwrap();
            panic!("writer panicked");
        });
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(files(&dir), vec!["m.safetensors"]);

    // A state dict that cannot be stored is refused before anything is written.
    let mut sd = StateDict::<f64>::new();
    sd.tensors.insert("__metadata__".into(), Tensor::zeros(&[1]));
    assert!(matches!(checkpoint::save(&path, &sd), Err(CheckpointError::InvalidName { .. })));
    let mut sd = StateDict::<f64>::new();
    sd.metadata.insert(CHECKSUM_KEY.into(), "0".into());
    assert!(matches!(checkpoint::save(&path, &sd), Err(CheckpointError::InvalidName { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Renaming onto a directory fails: the temporary file is removed.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("keep"), b"x").unwrap();
    let e = checkpoint::save_model(&sub, &toy::<f64>(1.0)).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { action: "rename", .. }), "{e}");
    assert_eq!(files(&dir), vec!["m.safetensors", "sub"]);

    // A missing directory is an I/O error naming the file.
    let e = checkpoint::save_model(dir.join("nope/m.safetensors"), &toy::<f64>(1.0)).unwrap_err();
    assert!(e.to_string().contains("nope/m.safetensors"), "{e}");
    let e = checkpoint::load::<f64>(dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { action: "read", .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_a_file_written_by_python_safetensors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/from_python_safetensors_0_8.safetensors");
    let sd = checkpoint::load::<f32>(&path).unwrap();
    assert_eq!(sd.metadata.get("format").map(String::as_str), Some("pt"));
    let w = &sd.tensors["layers.0.weight"];
    assert_eq!(w.shape(), &[2, 2]);
    assert_eq!(bits(w), bits(&Tensor::from_vec(vec![1.5f32, -0.0, f32::INFINITY, 1e-40], &[2, 2])));
    assert_eq!(sd.tensors["layers.0.bias"].as_slice(), &[3.25, -7.0]);
    // and into a model, by name
    let mut m = vec![Param::new(Tensor::<f32>::zeros(&[2, 2])), Param::new(Tensor::<f32>::zeros(&[2]))];
    let renamed: StateDict<f32> = StateDict {
        tensors: [("0".to_string(), w.clone()), ("1".to_string(), sd.tensors["layers.0.bias"].clone())].into(),
        metadata: Default::default(),
    };
    checkpoint::load_state_dict(m.as_mut_slice(), &renamed).unwrap();
    assert_eq!(m[1].value().as_slice(), &[3.25, -7.0]);
    // as f64 it is a dtype error naming the tensor
    let e = checkpoint::load::<f64>(&path).unwrap_err();
    assert!(matches!(&e, CheckpointError::DType { found, .. } if found == "F32"), "{e}");
}

#[test]
fn mlp_save_load_gives_the_same_predictions() {
    use rand::SeedableRng;
    use wengert_autodiff::Tape;
    use wengert_nn::layers::{Activation, Mlp};
    use wengert_nn::{Bound, Module};

    let dir = tmp_dir("mlp");
    let path = dir.join("mlp.safetensors");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let trained = Mlp::<f32>::new(&[64, 16, 10], Activation::Tanh, &mut rng);
    checkpoint::save_model(&path, &trained).unwrap();
    let names: Vec<String> = checkpoint::load::<f32>(&path).unwrap().tensors.into_keys().collect();
    let visited: Vec<String> = trained.named_parameters().into_iter().map(|(n, _)| n).collect();
    let mut sorted = visited.clone();
    sorted.sort();
    assert_eq!(names, sorted, "names as the model visits them");
    assert!(names.iter().any(|n| n.starts_with("layers.0.")), "{names:?}");

    let mut fresh = Mlp::<f32>::new(&[64, 16, 10], Activation::Tanh, &mut rng);
    let x = wengert_nn::datasets::digits_split::<f32>().test.features().clone();
    let predict = |m: &Mlp<f32>| {
        let tape = Tape::new();
        let p = Bound::new(&tape, m);
        m.forward(&p, tape.constant(x.clone())).value()
    };
    assert_ne!(predict(&fresh), predict(&trained));
    checkpoint::load_model(&path, &mut fresh).unwrap();
    assert_eq!(predict(&fresh), predict(&trained));

    // a model of another architecture is refused with the offending tensor named
    let mut wider = Mlp::<f32>::new(&[64, 32, 10], Activation::Tanh, &mut rng);
    let e = checkpoint::load_model(&path, &mut wider).unwrap_err();
    assert!(matches!(&e, CheckpointError::Shape { name, .. } if name.starts_with("layers.0.")), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
