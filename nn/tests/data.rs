//! Datasets in memory, minibatch iteration, splits and scaling.

use std::collections::BTreeSet;

use wengert_autodiff::{Float, Tensor};
use wengert_nn::data::{
    k_fold, stratified_split, train_val_test_split, DataLoader, Dataset, MinMaxScaler, Standardizer, Targets,
    TensorDataset,
};

/// `n` rows; row `i` has features `[i, 10 i]` and label `i % 3`.
fn rows<T: Float>(n: usize) -> TensorDataset<T> {
    let x = (0..n).flat_map(|i| [T::from_usize(i), T::from_usize(10 * i)]).collect();
    TensorDataset::new(Tensor::from_vec(x, &[n, 2]), Targets::Labels((0..n).map(|i| i % 3).collect()))
}

fn batch_gathers_rows<T: Float>() {
    let ds = rows::<T>(7);
    let b = ds.batch(&[5, 0, 5]);
    assert_eq!(b.x.shape(), &[3, 2]);
    let want: Vec<T> = [5, 50, 0, 0, 5, 50].iter().map(|&v| T::from_usize(v)).collect();
    assert_eq!(b.x.as_slice(), want.as_slice());
    assert_eq!(b.labels(), &[2, 0, 2]);
    assert_eq!(b.indices, vec![5, 0, 5]);
    // regression targets are gathered along the first axis
    let y = Tensor::from_vec((0..14).map(T::from_usize).collect(), &[7, 2]);
    let reg = TensorDataset::new(ds.features().clone(), Targets::Values(y));
    let b = reg.batch(&[3, 1]);
    let want: Vec<T> = [6, 7, 2, 3].iter().map(|&v| T::from_usize(v)).collect();
    assert_eq!(b.values().as_slice(), want.as_slice());
}

#[test]
fn batch_gathers_rows_f32() {
    batch_gathers_rows::<f32>();
}

#[test]
fn batch_gathers_rows_f64() {
    batch_gathers_rows::<f64>();
}

#[test]
#[should_panic(expected = "out of range")]
fn batch_out_of_range_panics() {
    rows::<f64>(3).batch(&[3]);
}

#[test]
#[should_panic(expected = "targets")]
fn mismatched_rows_panic() {
    TensorDataset::<f64>::new(Tensor::zeros(&[3, 2]), Targets::Labels(vec![0, 1]));
}

#[test]
fn loader_covers_every_row_once_per_epoch() {
    let ds = rows::<f64>(10);
    for (bs, drop, sizes) in [
        (3, false, vec![3, 3, 3, 1]),
        (3, true, vec![3, 3, 3]),
        (10, false, vec![10]),
        (11, false, vec![10]),
        (11, true, vec![]),
        (1, false, vec![1; 10]),
    ] {
        let loader = DataLoader::new(bs).shuffle(42).drop_last(drop);
        let batches: Vec<_> = loader.epoch(&ds, 0).collect();
        assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), sizes, "batch size {bs}, drop_last {drop}");
        assert_eq!(loader.num_batches(10), sizes.len());
        assert_eq!(loader.epoch(&ds, 0).len(), sizes.len());
        let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        let unique: BTreeSet<usize> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "a row was repeated");
        if !drop {
            assert_eq!(unique, (0..10).collect::<BTreeSet<_>>());
        }
        // features and labels travel together
        for b in &batches {
            for (k, &i) in b.indices.iter().enumerate() {
                assert_eq!(b.x.get(&[k, 1]), 10.0 * i as f64);
                assert_eq!(b.labels()[k], i % 3);
            }
        }
    }
}

#[test]
fn shuffling_is_seeded_and_reshuffles_per_epoch() {
    let ds = rows::<f32>(50);
    let l = DataLoader::new(8).shuffle(7);
    let order = |l: &DataLoader, e: u64| -> Vec<usize> { l.epoch(&ds, e).flat_map(|b| b.indices).collect() };
    assert_eq!(order(&l, 0), order(&DataLoader::new(8).shuffle(7), 0), "same seed and epoch, same order");
    assert_eq!(order(&l, 3), l.order(50, 3));
    assert_ne!(order(&l, 0), order(&l, 1), "a new epoch reshuffles");
    assert_ne!(order(&l, 0), order(&DataLoader::new(8).shuffle(8), 0), "another seed, another order");
    assert_ne!(order(&l, 0), (0..50).collect::<Vec<_>>(), "shuffled");
    assert_eq!(order(&DataLoader::new(8), 5), (0..50).collect::<Vec<_>>(), "no shuffle keeps dataset order");
    assert_eq!(l.batch_indices(50, 2).concat(), l.order(50, 2));
}

#[test]
#[should_panic(expected = "batch_size must be positive")]
fn zero_batch_size_panics() {
    DataLoader::new(0);
}

#[test]
fn train_val_test_split_fractions() {
    for (n, f, sizes) in [
        (100, wengert_nn::data::SPLIT_60_20_20, (60, 20, 20)),
        (1797, wengert_nn::data::SPLIT_80_10_10, (1438, 180, 179)),
        (5, [1.0, 0.0, 0.0], (5, 0, 0)),
    ] {
        let s = train_val_test_split(n, f, 3);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), sizes, "n = {n}, {f:?}");
        let all: BTreeSet<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        assert_eq!(all, (0..n).collect::<BTreeSet<_>>(), "a partition of 0..n");
    }
    let a = train_val_test_split(100, [0.6, 0.2, 0.2], 3);
    assert_eq!(a, train_val_test_split(100, [0.6, 0.2, 0.2], 3));
    assert_ne!(a, train_val_test_split(100, [0.6, 0.2, 0.2], 4));
    assert_ne!(a.train, (0..60).collect::<Vec<_>>(), "rows are shuffled before cutting");
    let (tr, va, te) = a.apply(&rows::<f64>(100));
    assert_eq!((tr.len(), va.len(), te.len()), (60, 20, 20));
    assert_eq!(te.features().get(&[0, 0]), a.test[0] as f64);
}

#[test]
fn stratified_split_keeps_class_proportions() {
    let digits = wengert_nn::datasets::digits::<f32>();
    let labels = digits.labels().unwrap();
    let s = stratified_split(labels, [0.6, 0.2, 0.2], 1);
    let all: BTreeSet<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
    assert_eq!(all.len(), labels.len(), "a partition");
    let counts = digits.class_counts().unwrap();
    for (part, f) in [(&s.test, 0.2), (&s.val, 0.2), (&s.train, 0.6)] {
        for (c, &n) in counts.iter().enumerate() {
            let got = part.iter().filter(|&&i| labels[i] == c).count() as f64;
            assert!((got - f * n as f64).abs() <= 1.0, "class {c}: {got} rows, expected {}", f * n as f64);
        }
    }
    assert_eq!(s, stratified_split(labels, [0.6, 0.2, 0.2], 1));
    assert_ne!(s, stratified_split(labels, [0.6, 0.2, 0.2], 2));
}

#[test]
#[should_panic(expected = "sum to 1")]
fn bad_fractions_panic() {
    train_val_test_split(10, [0.6, 0.2, 0.1], 0);
}

#[test]
fn k_fold_validates_every_row_once() {
    for (n, k) in [(10, 3), (12, 4), (7, 7), (100, 5)] {
        for seed in [None, Some(1)] {
            let folds = k_fold(n, k, seed);
            assert_eq!(folds.len(), k);
            let mut count = vec![0; n];
            for (i, f) in folds.iter().enumerate() {
                // sizes as scikit-learn: the first n % k folds have one extra row
                assert_eq!(f.val.len(), n / k + usize::from(i < n % k));
                assert_eq!(f.train.len() + f.val.len(), n);
                assert!(f.val.iter().all(|v| f.train.binary_search(v).is_err()), "train and val overlap");
                f.val.iter().for_each(|&v| count[v] += 1);
            }
            assert!(count.iter().all(|&c| c == 1), "{count:?}");
        }
    }
    assert_eq!(k_fold(6, 3, None)[1].val, vec![2, 3], "unshuffled folds are consecutive");
    assert_ne!(k_fold(30, 3, Some(1)), k_fold(30, 3, Some(2)));
}

fn standardizer<T: Float>() {
    // column 0: 1, 2, 3, 6 (mean 3, population std sqrt(3.5)); column 1 constant 5.
    let x =
        Tensor::from_vec([1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 6.0, 5.0].iter().map(|&v| T::from_f64(v)).collect(), &[4, 2]);
    let s = Standardizer::fit(&x);
    assert!((s.mean[0].to_f64() - 3.0).abs() < 1e-6 && (s.std[0].to_f64() - 3.5f64.sqrt()).abs() < 1e-6);
    assert_eq!(s.std[1], T::ONE, "zero variance falls back to 1");
    let z = s.transform(&x);
    assert!(z.all_finite());
    let col0: Vec<f64> = (0..4).map(|i| z.get(&[i, 0]).to_f64()).collect();
    assert!(col0.iter().sum::<f64>().abs() < 1e-6);
    assert!((col0.iter().map(|v| v * v).sum::<f64>() / 4.0 - 1.0).abs() < 1e-6);
    assert!((0..4).all(|i| z.get(&[i, 1]) == T::ZERO));
    // held-out rows use the training statistics
    let other = Tensor::from_vec(vec![T::from_f64(3.0), T::from_f64(7.0)], &[1, 2]);
    let zo = s.transform(&other);
    assert_eq!(zo.get(&[0, 0]), T::ZERO);
    assert!((zo.get(&[0, 1]).to_f64() - 2.0).abs() < 1e-6);
    let back = s.inverse_transform(&z);
    assert!(back.as_slice().iter().zip(x.as_slice()).all(|(a, b)| (a.to_f64() - b.to_f64()).abs() < 1e-5));
}

#[test]
fn standardizer_f32() {
    standardizer::<f32>();
}

#[test]
fn standardizer_f64() {
    standardizer::<f64>();
}

#[test]
fn standardizer_on_digits_has_constant_pixels_without_nan() {
    let s = wengert_nn::datasets::digits_split::<f64>();
    let st = Standardizer::fit(s.train.features());
    let test = s.test.map_features(|x| st.transform(x));
    assert!(test.features().all_finite());
    assert!(st.std.contains(&1.0), "digits has constant border pixels");
}

#[test]
fn scalers_round_trip_through_a_checkpoint() {
    let x = Tensor::<f64>::from_vec(vec![0.1, 3.0, 0.7, 3.0, -2.0, 3.0], &[3, 2]);
    let st = Standardizer::fit(&x);
    let mm = MinMaxScaler::fit(&x);
    let mut sd = wengert_nn::StateDict::new();
    sd.merge_prefixed("scaler", st.state_dict());
    sd.merge_prefixed("minmax", mm.state_dict());
    let dir = std::env::temp_dir().join(format!("wengert-scaler-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.safetensors");
    wengert_nn::checkpoint::save(&path, &sd).unwrap();
    let back = wengert_nn::checkpoint::load::<f64>(&path).unwrap();
    assert_eq!(Standardizer::from_state_dict(&back.sub("scaler")).unwrap(), st);
    assert_eq!(MinMaxScaler::from_state_dict(&back.sub("minmax")).unwrap(), mm);
    let e = Standardizer::from_state_dict(&back.sub("minmax")).unwrap_err();
    assert!(e.to_string().contains("mean"), "{e}");
    let mut bad = st.state_dict();
    bad.tensors.insert("std".into(), Tensor::ones(&[3]));
    let e = Standardizer::from_state_dict(&bad).unwrap_err();
    assert!(e.to_string().contains("[3]") && e.to_string().contains("[2]"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn min_max_scaler() {
    let x = Tensor::<f64>::from_vec(vec![2.0, 1.0, 4.0, 1.0, 6.0, 1.0], &[3, 2]);
    let s = MinMaxScaler::fit(&x);
    assert_eq!(s.transform(&x).as_slice(), &[0.0, 0.0, 0.5, 0.0, 1.0, 0.0]);
    assert_eq!(s.inverse_transform(&s.transform(&x)), x);
    let b = MinMaxScaler::from_bounds(2, 0.0, 16.0);
    assert_eq!(b.transform(&x).as_slice()[4], 6.0 / 16.0);
}

#[test]
fn subsets_and_casts() {
    let ds = rows::<f64>(6);
    let (head, tail) = ds.split_last(2);
    assert_eq!((head.len(), tail.len()), (4, 2));
    assert_eq!(tail.labels().unwrap(), &[1, 2]);
    assert_eq!(ds.class_counts().unwrap(), vec![2, 2, 2]);
    assert_eq!(ds.num_features(), 2);
    let f: TensorDataset<f32> = ds.cast();
    assert_eq!(f.features().as_slice()[11], 50.0f32);
    assert_eq!(ds.scale_features(0.5).features().as_slice()[3], 5.0);
}
