//! The bundled digits, the CSV and IDX loaders, and the synthetic generators.

use wengert_nn::data::{Dataset, Targets};
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
    let cfg = CsvConfig { has_header: false, target: TargetColumn::Index(0), kind: TargetKind::Value, ..CsvConfig::default() };
    let ds = datasets::parse_csv::<f32>("1.5;2\n-3;4\n", "t.csv", &CsvConfig { delimiter: ';', ..cfg }).unwrap();
    match ds.targets() {
        Targets::Values(v) => assert_eq!(v.as_slice(), &[1.5, -3.0]),
        t => panic!("expected values, got {t:?}"),
    }
    assert_eq!(ds.features().as_slice(), &[2.0, 4.0]);
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
    assert!(matches!(e, LoadError::Parse { line: 2, column: 3, .. }), "{e}");
    let named = CsvConfig { target: TargetColumn::Name("zz".into()), ..cfg.clone() };
    let e = datasets::parse_csv::<f64>("a,b\n1,2\n", "bad.csv", &named).unwrap_err();
    assert!(matches!(e, LoadError::NoSuchColumn { .. }) && e.to_string().contains("zz"), "{e}");
    let e = datasets::parse_csv::<f64>("a,b\n", "bad.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Empty { .. }), "{e}");
    let e = datasets::load_csv::<f64>("/nonexistent/dir/x.csv", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }) && e.to_string().contains("/nonexistent/dir/x.csv"), "{e}");
}
