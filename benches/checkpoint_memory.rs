//! Peak heap memory of one gradient step of a 20-block tanh MLP (width 512, batch 256, `f32`), with
//! and without gradient checkpointing ([`wengert::autodiff::checkpoint`]): prints the peak bytes
//! allocated during each step, counted by a wrapper around the system allocator.
//!
//! Each step records the loss on a fresh tape and takes the gradient of every weight; the buffer
//! cache is emptied before each, so both start from the same heap. The gradients of the two runs
//! are checked to be bit-identical before anything is printed.
//!
//! `cargo bench --bench checkpoint_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert::autodiff::{checkpoint, release_cached_buffers};
use wengert::prelude::*;

/// The system allocator, counting the bytes currently allocated and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract;
// the counters are plain atomics and never affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const BLOCKS: usize = 20;
const WIDTH: usize = 512;
const BATCH: usize = 256;

/// `tanh(h W^T + b)`.
fn block<'s>(x: &[Var<'s, f32>]) -> Var<'s, f32> {
    x[0].matmul_t(x[1], false, true).add(x[2]).tanh()
}

/// One gradient step; returns the gradients and the peak bytes allocated above the starting point.
fn step(x: &Tensor<f32>, params: &[(Tensor<f32>, Tensor<f32>)], ckpt: bool) -> (Vec<Tensor<f32>>, usize) {
    release_cached_buffers();
    let start = CURRENT.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let grads = {
        let tape = Tape::new();
        let vars: Vec<_> = params.iter().map(|(w, b)| (tape.var(w.clone()), tape.var(b.clone()))).collect();
        let mut h = tape.constant(x.clone());
        for &(w, b) in &vars {
            h = if ckpt { checkpoint(block, &[h, w, b]) } else { block(&[h, w, b]) };
        }
        let loss = h.square().mean();
        let flat: Vec<_> = vars.iter().flat_map(|&(w, b)| [w, b]).collect();
        tape.grad(loss, &flat).values()
    };
    (grads, PEAK.load(Ordering::Relaxed) - start)
}

fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Tensor::<f32>::randn(&[BATCH, WIDTH], 0.0, 1.0, &mut rng);
    let scale = 1.0 / (WIDTH as f32).sqrt();
    let params: Vec<_> = (0..BLOCKS)
        .map(|_| (Tensor::randn(&[WIDTH, WIDTH], 0.0, scale, &mut rng), Tensor::randn(&[WIDTH], 0.0, 0.1, &mut rng)))
        .collect();
    let (g_plain, plain) = step(&x, &params, false);
    let (g_ckpt, ckpt) = step(&x, &params, true);
    assert_eq!(g_plain, g_ckpt, "checkpointed gradients differ from the plain run's");
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    let params_mib = mib(BLOCKS * (WIDTH * WIDTH + WIDTH) * 4);
    println!("{BLOCKS}-block tanh MLP, width {WIDTH}, batch {BATCH}, f32 (weights {params_mib:.1} MiB)");
    println!(
        "peak heap during a gradient step: plain {:.1} MiB, checkpointed {:.1} MiB ({:.2}x)",
        mib(plain),
        mib(ckpt),
        plain as f64 / ckpt as f64
    );
}
