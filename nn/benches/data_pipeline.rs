//! Throughput of the data pipeline and checkpoints:
//! `cargo bench -p wengert-nn --bench data_pipeline`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wengert_autodiff::Tensor;
use wengert_nn::checkpoint;
use wengert_nn::data::{DataLoader, Standardizer};
use wengert_nn::datasets::{self, CsvConfig};
use wengert_nn::{Param, StateDict};

fn bench(c: &mut Criterion) {
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv");
    c.bench_function("load_csv digits (1797 x 65) f32", |b| {
        b.iter(|| datasets::load_csv::<f32>(black_box(&csv), &CsvConfig::default()).unwrap())
    });

    let split = datasets::digits_split::<f32>();
    let loader = DataLoader::new(64).shuffle(0);
    c.bench_function("epoch over digits train (1437 rows, batch 64, shuffled) f32", |b| {
        let mut e = 0;
        b.iter(|| {
            e += 1;
            loader.epoch(&split.train, e).map(|batch| batch.len()).sum::<usize>()
        })
    });
    c.bench_function("Standardizer fit + transform digits train f32", |b| {
        b.iter(|| Standardizer::fit(split.train.features()).transform(split.train.features()))
    });

    let dir = std::env::temp_dir().join(format!("wengert-bench-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    // 1M f32 parameters in 4 tensors.
    let model: Vec<Param<f32>> = (0..4).map(|i| Param::new(Tensor::full(&[500, 500], i as f32 + 0.5))).collect();
    c.bench_function("save_model 1M f32 params (atomic, fsync)", |b| {
        b.iter(|| checkpoint::save_model(&path, model.as_slice()).unwrap())
    });
    checkpoint::save_model(&path, model.as_slice()).unwrap();
    c.bench_function("load 1M f32 params", |b| b.iter(|| checkpoint::load::<f32>(&path).unwrap()));
    let _: StateDict<f32> = checkpoint::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
