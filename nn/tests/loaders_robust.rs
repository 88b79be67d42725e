//! Loaders under bad input (issue 14): class labels validated at load against a sane class count, negative
//! labels called negative, quoted CSV fields (the `csv` crate), gzipped IDX decompressed (`flate2`), and a
//! seeded, bounded property test over mutated CSV and IDX inputs: never a panic, and what loads is valid.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_nn::datasets::{self, CsvConfig, LoadError, TargetColumn, TargetKind, DEFAULT_MAX_CLASSES};

fn parse(text: &str, cfg: &CsvConfig) -> Result<wengert_nn::data::TensorDataset<f64>, LoadError> {
    datasets::parse_csv::<f64>(text, "t.csv", cfg)
}

#[test]
fn huge_labels_are_refused_at_load() {
    let cfg = CsvConfig::default();
    for big in ["18446744073709551615", "1000000000000", "99999999999999999999999", "1e12"] {
        let e = parse(&format!("a,label\n1,0\n2,{big}\n"), &cfg).unwrap_err();
        assert!(matches!(e, LoadError::InvalidLabel { line: 3, column: 2, .. }), "{big}: {e}");
        assert!(e.to_string().contains("max_classes"), "{e}");
    }
    let e = parse(&format!("a,label\n1,{DEFAULT_MAX_CLASSES}\n"), &cfg).unwrap_err();
    assert!(matches!(e, LoadError::InvalidLabel { .. }), "{e}");
    let ds = parse(&format!("a,label\n1,{}\n", DEFAULT_MAX_CLASSES - 1), &cfg).unwrap();
    assert_eq!(ds.num_classes(), Some(DEFAULT_MAX_CLASSES));
    // a tighter bound of the user's own
    let three = CsvConfig { max_classes: 3, ..CsvConfig::default() };
    assert!(parse("a,label\n1,2\n", &three).is_ok());
    assert!(matches!(parse("a,label\n1,3\n", &three).unwrap_err(), LoadError::InvalidLabel { .. }));
}

#[test]
fn negative_and_fractional_labels_say_what_is_wrong() {
    let cfg = CsvConfig::default();
    let e = parse("a,label\n1,-1\n", &cfg).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("negative labels are not allowed") && !msg.contains("as a number"), "{msg}");
    let e = parse("a,label\n1,1.5\n", &cfg).unwrap_err();
    assert!(e.to_string().contains("non-negative integers"), "{e}");
    // not a number at all is still a parse error
    let e = parse("a,label\n1,cat\n", &cfg).unwrap_err();
    assert!(matches!(e, LoadError::Parse { ref field, .. } if field == "cat"), "{e}");
}

#[test]
fn quoted_fields_with_delimiters_quotes_and_newlines() {
    let text = "\"width, cm\",\"name \"\"q\"\"\",\"multi\nline\"\n\"1.5\",2,0\n3,\"4\",1\n";
    let by_name = CsvConfig { target: TargetColumn::Name("multi\nline".into()), ..CsvConfig::default() };
    let ds = parse(text, &by_name).unwrap();
    assert_eq!(ds.features().as_slice(), &[1.5, 2.0, 3.0, 4.0]);
    assert_eq!(ds.labels().unwrap(), &[0, 1]);
    let value =
        CsvConfig { target: TargetColumn::Name("width, cm".into()), kind: TargetKind::Value, ..CsvConfig::default() };
    let ds = parse(text, &value).unwrap();
    assert_eq!(ds.features().as_slice(), &[2.0, 0.0, 4.0, 1.0]);
    // a quoted field spanning lines: the next record's line number is still right
    let e = parse("a,\"b\nc\",label\n1,2,0\n1,x,0\n", &CsvConfig::default()).unwrap_err();
    assert!(matches!(e, LoadError::Parse { line: 4, column: 2, .. }), "{e}");
    let e = parse("a;label\n1;0\n", &CsvConfig { delimiter: 'é', ..CsvConfig::default() }).unwrap_err();
    assert!(matches!(e, LoadError::Unsupported { .. }), "{e}");
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzipped_idx_is_decompressed() {
    let pixels: Vec<u8> = (0..12).map(|i| i * 20).collect();
    let plain = idx(0x803, &[3, 2, 2], &pixels);
    let raw = datasets::parse_idx_images::<f64>(&gzip(&plain), "img.gz").unwrap();
    assert_eq!(raw.shape(), &[3, 2, 2]);
    assert_eq!(raw.as_slice(), datasets::parse_idx_images::<f64>(&plain, "img").unwrap().as_slice());
    let labels = datasets::parse_idx_labels(&gzip(&idx(0x801, &[3], &[7, 0, 9])), "lab.gz").unwrap();
    assert_eq!(labels, vec![7, 0, 9]);
    // trailing data after the compressed header's size, a truncated payload, a corrupt stream
    let mut long = plain.clone();
    long.extend([1, 2, 3]);
    let e = datasets::parse_idx_images::<f64>(&gzip(&long), "img.gz").unwrap_err();
    assert!(matches!(e, LoadError::SizeMismatch { .. }), "{e}");
    let e = datasets::parse_idx_images::<f64>(&gzip(&plain[..plain.len() - 2]), "img.gz").unwrap_err();
    assert!(matches!(e, LoadError::Truncated { .. }), "{e}");
    let gz = gzip(&plain);
    let e = datasets::parse_idx_images::<f64>(&gz[..gz.len() / 2], "img.gz").unwrap_err();
    assert!(matches!(e, LoadError::Decompress { .. } | LoadError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("img.gz"), "{e}");
    // a tiny file claiming 2^32 - 1 images is refused without inflating gigabytes
    let claim = gzip(&idx(0x803, &[u32::MAX, 1, 1], &[0; 16]));
    assert!(datasets::parse_idx_images::<f32>(&claim, "huge.gz").is_err());
}

/// One random mutation: flip, insert, delete, truncate or duplicate a span.
fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>, alphabet: &[u8]) {
    let n = bytes.len();
    let pick = |rng: &mut StdRng| {
        if alphabet.is_empty() {
            rng.random()
        } else {
            alphabet[rng.random_range(0..alphabet.len())]
        }
    };
    match rng.random_range(0..5) {
        0 if n > 0 => {
            let i = rng.random_range(0..n);
            bytes[i] = pick(rng);
        }
        1 => {
            let i = rng.random_range(0..=n);
            let b = pick(rng);
            bytes.insert(i, b);
        }
        2 if n > 0 => {
            bytes.remove(rng.random_range(0..n));
        }
        3 => bytes.truncate(rng.random_range(0..=n)),
        _ if n > 0 => {
            let i = rng.random_range(0..n);
            let j = rng.random_range(i..n.min(i + 8) + 1).min(n);
            let span = bytes[i..j].to_vec();
            bytes.splice(i..i, span);
        }
        _ => {}
    }
}

/// Seeded and bounded (a fixed number of cases, well under a second): mutated CSV text and IDX files, plain
/// and gzipped, never panic; whatever loads has labels below `max_classes` and consistent shapes.
#[test]
fn mutated_inputs_never_panic_and_what_loads_is_valid() {
    let mut rng = StdRng::seed_from_u64(14);
    let csv = b"x,\"y, z\",label\n0.5,1e3,0\n-2,\"3\",1\n7,8,2\n".to_vec();
    let cfg = CsvConfig { max_classes: 1000, ..CsvConfig::default() };
    let alphabet = b"0123456789-.,\"\n eE+x";
    for _ in 0..3000 {
        let mut m = csv.clone();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut rng, &mut m, alphabet);
        }
        let text = String::from_utf8_lossy(&m);
        if let Ok(ds) = datasets::parse_csv::<f32>(&text, "m.csv", &cfg) {
            let labels = ds.labels().unwrap();
            assert!(labels.iter().all(|&l| l < 1000), "{text:?}");
            assert_eq!(ds.features().shape()[0], labels.len());
            assert!(ds.class_counts().is_some());
        }
    }
    let plain = idx(0x803, &[2, 3, 3], &[9; 18]);
    let gz = gzip(&plain);
    for case in 0..3000 {
        let mut m = if case % 2 == 0 { plain.clone() } else { gz.clone() };
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut rng, &mut m, &[]);
        }
        if let Ok(t) = datasets::parse_idx_images::<f32>(&m, "m.idx") {
            assert_eq!(t.shape().iter().product::<usize>(), t.as_slice().len());
        }
        let _ = datasets::parse_idx_labels(&m, "m.idx");
    }
}
