//! The bundled digits, the CSV and IDX loaders, and the synthetic generators.

use wengert_nn::data::Targets;
use wengert_nn::datasets::{self, digits, digits_split, CsvConfig, LoadError, TargetColumn, TargetKind};

#[test]
fn digits_shape_range_and_class_counts() {
    let ds = digits::<f64>();
    assert_eq!(ds.len(), 1797);
    assert_eq!(ds.features().shape(), &[1797, 64]);
    let x = ds.features().as_slice();
    assert!(x.iter().all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0));
    assert_eq!(x.iter().cloned().fold(0.0, f64::max), 16.0);
    assert_eq!(ds.class_counts().unwrap(), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // first row of the file: label 0, pixels 0,0,5,13,9,1,0,0
    assert_eq!(ds.labels().unwrap()[0], 0);
    assert_eq!(&x[..8], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
}

#[test]
fn digits_split_is_last_360_scaled() {
    let all = digits::<f32>();
    let s = digits_split::<f32>();
    assert_eq!((s.train.len(), s.test.len()), (1437, 360));
    assert_eq!(s.test.labels().unwrap(), &all.labels().unwrap()[1437..]);
    let raw = &all.features().as_slice()[1437 * 64..];
    for (a, b) in s.test.features().as_slice().iter().zip(raw) {
        assert_eq!(*a, b / 16.0);
    }
    assert_eq!(s.train.features().as_slice().iter().cloned().fold(0.0, f32::max), 1.0);
}

#[test]
fn digits_f32_and_f64_agree() {
    let a = digits::<f32>();
    let b = digits::<f64>();
    assert!(a.features().as_slice().iter().zip(b.features().as_slice()).all(|(x, y)| *x as f64 == *y));
    assert_eq!(a.labels(), b.labels());
}

#[test]
fn csv_header_label_by_name_and_index() {
    let text = "a,y,b\n1,2,3\n\n4,0,6.5\n";
    let cfg = CsvConfig { target: TargetColumn::Name("y".into()), ..CsvConfig::default() };
    let ds = datasets::parse_csv::<f64>(text, "t.csv", &cfg).unwrap();
    assert_eq!(ds.features().shape(), &[2, 2]);
    assert_eq!(ds.features().as_slice(), &[1.0, 3.0, 4.0, 6.5]);
    assert_eq!(ds.labels().unwrap(), &[2, 0]);
    let cfg = CsvConfig {
        has_header: false,
        target: TargetColumn::Index(0),
        kind: TargetKind::Value,
        ..CsvConfig::default()
    };
    let ds = datasets::parse_csv::<f32>("1.5;2\n-3;4\n", "t.csv", &CsvConfig { delimiter: ';', ..cfg }).unwrap();
    match ds.targets() {
        Targets::Values(v) => assert_eq!(v.as_slice(), &[1.5, -3.0]),
        t => panic!("expected values, got {t:?}"),
    }
    assert_eq!(ds.features().as_slice(), &[2.0, 4.0]);
}

#[test]
fn csv_quoted_header_and_bom() {
    let text = "\u{feff}\"sepal length\", \"species\"\n\"5.1\",2\n4.9,0\n";
    let cfg = CsvConfig { target: TargetColumn::Name("species".into()), ..CsvConfig::default() };
    let ds = datasets::parse_csv::<f64>(text, "iris.csv", &cfg).unwrap();
    assert_eq!(ds.features().as_slice(), &[5.1, 4.9]);
    assert_eq!(ds.labels().unwrap(), &[2, 0]);
}

#[test]
fn csv_errors_name_line_and_column() {
    let cfg = CsvConfig::default();
    let e = datasets::parse_csv::<f64>("a,b,label\n1,2,3\n1,x,3\n", "bad.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Parse { line: 3, column: 2, ref field, .. } if field == "x"), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("bad.csv") && msg.contains("line 3") && msg.contains("column 2"), "{msg}");
    let e = datasets::parse_csv::<f64>("a,b,label\n1,2,3\n1,2\n", "bad.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::RaggedRow { line: 3, expected: 3, found: 2, .. }), "{e}");
    let e = datasets::parse_csv::<f64>("a,b,label\n1,2,-1\n", "bad.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::InvalidLabel { line: 2, column: 3, .. }), "{e}");
    assert!(e.to_string().contains("negative labels are not allowed"), "{e}");
    let named = CsvConfig { target: TargetColumn::Name("zz".into()), ..cfg.clone() };
    let e = datasets::parse_csv::<f64>("a,b\n1,2\n", "bad.csv", &named).unwrap_err();
    assert!(matches!(e, LoadError::NoSuchColumn { .. }) && e.to_string().contains("zz"), "{e}");
    let e = datasets::parse_csv::<f64>("a,b\n", "bad.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Empty { .. }), "{e}");
    let e = datasets::load_csv::<f64>("/nonexistent/dir/x.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }) && e.to_string().contains("/nonexistent/dir/x.csv"), "{e}");
}

/// An IDX file: big-endian magic, dims, then bytes.
fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn tmp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wengert-idx-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn idx_mnist_roundtrip_from_tiny_files() {
    let dir = tmp_dir("ok");
    // 3 images of 2x2 pixels, row-major; labels 7, 0, 9.
    let pixels: Vec<u8> = vec![0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0];
    std::fs::write(dir.join("img"), idx(0x803, &[3, 2, 2], &pixels)).unwrap();
    std::fs::write(dir.join("lab"), idx(0x801, &[3], &[7, 0, 9])).unwrap();
    let raw = datasets::load_idx_images::<f64>(dir.join("img")).unwrap();
    assert_eq!(raw.shape(), &[3, 2, 2]);
    assert_eq!(raw.get(&[0, 0, 1]), 255.0);
    assert_eq!(raw.get(&[1, 1, 0]), 3.0);
    let ds = datasets::load_mnist::<f32>(dir.join("img"), dir.join("lab")).unwrap();
    assert_eq!(ds.features().shape(), &[3, 4]);
    assert_eq!(ds.labels().unwrap(), &[7, 0, 9]);
    assert_eq!(ds.features().as_slice()[2], 51.0 / 255.0);
    assert_eq!(ds.features().as_slice()[8], 1.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idx_bad_files_are_typed_errors() {
    let dir = tmp_dir("bad");
    let img = idx(0x803, &[2, 2, 2], &[1; 8]);
    let p = dir.join("images.idx");
    let check = |bytes: &[u8]| {
        std::fs::write(&p, bytes).unwrap();
        let e = datasets::load_idx_images::<f32>(&p).unwrap_err();
        assert!(e.to_string().contains("images.idx"), "{e}");
        e
    };
    // Truncated at every length short of complete.
    for len in 0..img.len() {
        let e = check(&img[..len]);
        assert!(matches!(e, LoadError::Truncated { found, .. } if found == len), "len {len}: {e}");
    }
    // Wrong magic: a labels file given as images, and a gzip file.
    let e = check(&idx(0x801, &[8], &[1; 8]));
    assert!(matches!(e, LoadError::BadMagic { found: 0x801, expected: 0x803, .. }), "{e}");
    let e = check(&[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
    assert!(e.to_string().contains("gzip"), "{e}");
    // Trailing bytes disagree with the header.
    let mut long = img.clone();
    long.push(0);
    let e = check(&long);
    assert!(matches!(e, LoadError::SizeMismatch { .. }) && e.to_string().contains("1 trailing"), "{e}");
    // Overflowing dimensions.
    let e = check(&idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[]));
    assert!(matches!(e, LoadError::SizeMismatch { .. } | LoadError::Truncated { .. }), "{e}");
    // Image and label counts disagree.
    std::fs::write(&p, &img).unwrap();
    std::fs::write(dir.join("labels.idx"), idx(0x801, &[3], &[0, 1, 2])).unwrap();
    let e = datasets::load_mnist::<f32>(&p, dir.join("labels.idx")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("2 images but 3 labels") && msg.contains("labels.idx"), "{msg}");
    // Missing file.
    let e = datasets::load_idx_labels(dir.join("absent")).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spirals_follow_the_cs231n_recipe() {
    let ds = datasets::spirals::<f64>(50, 3, 0.0, 1);
    assert_eq!(ds.features().shape(), &[150, 2]);
    assert_eq!(ds.class_counts().unwrap(), vec![50, 50, 50]);
    // Without noise, point i of class j is r (sin t, cos t), r = i/49, t = 4j + 4r.
    let (i, j) = (20, 2);
    let r = i as f64 / 49.0;
    let t = 4.0 * j as f64 + 4.0 * r;
    let row = 50 * j + i;
    assert!((ds.features().get(&[row, 0]) - r * t.sin()).abs() < 1e-12);
    assert!((ds.features().get(&[row, 1]) - r * t.cos()).abs() < 1e-12);
    // Noise is seeded: same seed same data, other seed other data.
    let a = datasets::spirals::<f32>(20, 2, 0.2, 5);
    assert_eq!(a, datasets::spirals::<f32>(20, 2, 0.2, 5));
    assert_ne!(a, datasets::spirals::<f32>(20, 2, 0.2, 6));
}

#[test]
fn blobs_center_and_spread() {
    let centers = vec![vec![-5.0, 0.0], vec![5.0, 2.0]];
    let ds = datasets::blobs::<f64>(2000, &centers, 0.5, 3);
    assert_eq!(ds.features().shape(), &[4000, 2]);
    let x = ds.features().as_slice();
    for (j, c) in centers.iter().enumerate() {
        for k in 0..2 {
            let col: Vec<f64> = (0..2000).map(|i| x[(2000 * j + i) * 2 + k]).collect();
            let m = col.iter().sum::<f64>() / 2000.0;
            let sd = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 2000.0).sqrt();
            // standard error of the mean is 0.5 / sqrt(2000) ~ 0.011
            assert!((m - c[k]).abs() < 0.05, "class {j} dim {k}: mean {m}");
            assert!((sd - 0.5).abs() < 0.03, "class {j} dim {k}: std {sd}");
        }
    }
}

#[test]
fn linear_regression_residuals_are_the_noise() {
    let w = [2.0, -1.0, 0.5];
    let ds = datasets::linear_regression::<f64>(4000, &w, 0.7, 0.1, 9);
    let (x, y) = (ds.features().as_slice(), ds.targets().values().unwrap());
    assert_eq!(y.shape(), &[4000, 1]);
    let res: Vec<f64> =
        (0..4000).map(|i| y.as_slice()[i] - (0..3).map(|j| x[i * 3 + j] * w[j]).sum::<f64>() - 0.7).collect();
    let m = res.iter().sum::<f64>() / 4000.0;
    let sd = (res.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 4000.0).sqrt();
    assert!(m.abs() < 0.01 && (sd - 0.1).abs() < 0.01, "residual mean {m}, std {sd}");
    let no_noise = datasets::linear_regression::<f64>(10, &w, 0.7, 0.0, 9);
    let v = no_noise.targets().values().unwrap().as_slice()[0];
    let f = no_noise.features().as_slice();
    assert!((v - (2.0 * f[0] - f[1] + 0.5 * f[2] + 0.7)).abs() < 1e-12);
}

#[test]
fn sine_regression_and_bernoulli() {
    let ds = datasets::sine_regression::<f64>(200, 0.0, 4);
    let (x, y) = (ds.features().as_slice(), ds.targets().values().unwrap().as_slice());
    assert!(x.iter().all(|v| (-std::f64::consts::PI..std::f64::consts::PI).contains(v)));
    assert!(x.iter().zip(y).all(|(a, b)| (a.sin() - b).abs() < 1e-15));
    let d = datasets::bernoulli::<f64>(20000, 0.3, 11);
    assert!(d.as_slice().iter().all(|&v| v == 0.0 || v == 1.0));
    let mean = d.as_slice().iter().sum::<f64>() / 20000.0;
    assert!((mean - 0.3).abs() < 0.015, "mean {mean}"); // ~4.6 standard errors
    assert_eq!(datasets::bernoulli::<f32>(50, 0.5, 2), datasets::bernoulli::<f32>(50, 0.5, 2));
    let b = datasets::bandit_draws::<f64>();
    assert_eq!(b.as_slice(), &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    // the lectures' training loss at the MLE: -0.3 log10(0.3) - 0.7 log10(0.7) = 0.27
    let lam: f64 = b.as_slice().iter().sum::<f64>() / 10.0;
    let l = -lam * lam.log10() - (1.0 - lam) * (1.0 - lam).log10();
    assert!((l - 0.27).abs() < 0.005, "{l}");
}

#[test]
fn load_csv_from_disk_matches_bundled_digits() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv");
    let cfg = CsvConfig { target: TargetColumn::Name("label".into()), ..CsvConfig::default() };
    let ds = datasets::load_csv::<f32>(&path, &cfg).unwrap();
    assert_eq!(ds, digits::<f32>());
}
