//! A per-thread cache of tensor buffers.
//!
//! Every op allocates its output, and a tape truncated after each Hessian-vector product frees the same
//! sizes it will allocate again a moment later. Buffers of a hundred KiB and more live near the allocator's
//! `mmap` and heap-trim thresholds, and glibc returns such memory to the kernel on `free`: the next
//! allocation page-faults it back in, zeroing every page. Measured on the digits logistic-regression
//! HVP (18k-element tensors, on a thread other than `main`): 550 µs per product with plain allocation,
//! 140 µs with the memory kept. So tensor storage goes back to a small cache of the dropping thread when
//! its last reference dies, and kernels take their outputs from it.
//!
//! Limits per thread: buffers of 4 KiB to 16 MiB (4 KiB rather than 16: the per-row statistics of that
//! HVP, 14 KB each, gained 5% from the cache too), at most [`MAX_BUFFERS`] of them and [`MAX_BYTES`] in
//! all (the oldest are freed first). Smaller buffers are cheap for the allocator and bypass the cache.
//! [`release_cached_buffers`] frees the calling thread's cache.

use std::any::TypeId;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::Float;

/// Buffers smaller than this many bytes are not cached.
const MIN_BYTES: usize = 4 << 10;
/// Buffers larger than this many bytes are not cached (their page faults are amortised by their size).
const MAX_BUFFER_BYTES: usize = 16 << 20;
/// Most buffers kept per thread and element type.
pub const MAX_BUFFERS: usize = 64;
/// Most bytes kept per thread and element type.
pub const MAX_BYTES: usize = 64 << 20;

/// Free buffers of one element type.
struct Cache<T> {
    free: Vec<Vec<T>>,
    bytes: usize,
}

impl<T> Cache<T> {
    const fn new() -> Self {
        Cache { free: Vec::new(), bytes: 0 }
    }

    /// The smallest cached buffer holding `n` elements and at most `2 n` (so a small request does not
    /// pin a large buffer), emptied.
    fn take(&mut self, n: usize) -> Option<Vec<T>> {
        let best = (self.free.iter().enumerate())
            .filter(|(_, v)| v.capacity() >= n && v.capacity() <= 2 * n)
            .min_by_key(|(_, v)| v.capacity())?
            .0;
        let mut v = self.free.swap_remove(best);
        self.bytes -= v.capacity() * size_of::<T>();
        v.clear();
        Some(v)
    }

    fn give(&mut self, v: Vec<T>) {
        let bytes = v.capacity() * size_of::<T>();
        while !self.free.is_empty() && (self.free.len() >= MAX_BUFFERS || self.bytes + bytes > MAX_BYTES) {
            let old = self.free.remove(0);
            self.bytes -= old.capacity() * size_of::<T>();
        }
        self.bytes += bytes;
        self.free.push(v);
    }
}

thread_local! {
    static F64: RefCell<Cache<f64>> = const { RefCell::new(Cache::new()) };
    static F32: RefCell<Cache<f32>> = const { RefCell::new(Cache::new()) };
}

/// Runs `f` on this thread's cache for `T`; `None` for a type without one, while the thread is being torn
/// down, or if the cache is in use further up the stack.
fn with_cache<T: Float, R>(f: impl FnOnce(&mut Cache<T>) -> R) -> Option<R> {
    fn run<E: 'static, T: 'static, R>(
        key: &'static std::thread::LocalKey<RefCell<Cache<E>>>,
        f: impl FnOnce(&mut Cache<T>) -> R,
    ) -> Option<R> {
        key.try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            // SAFETY: `with_cache` calls this only with `E` and `T` the same type (compared by `TypeId`),
            // so this is a cast of a reference to its own type.
            let c = unsafe { &mut *std::ptr::from_mut::<Cache<E>>(&mut c).cast::<Cache<T>>() };
            Some(f(c))
        })
        .ok()
        .flatten()
    }
    let t = TypeId::of::<T>();
    if t == TypeId::of::<f64>() {
        run(&F64, f)
    } else if t == TypeId::of::<f32>() {
        run(&F32, f)
    } else {
        None
    }
}

fn cached_size<T>(n: usize) -> bool {
    (MIN_BYTES..=MAX_BUFFER_BYTES).contains(&(n * size_of::<T>()))
}

/// An empty vector with room for `n` elements, from the cache when one fits.
pub(crate) fn take<T: Float>(n: usize) -> Vec<T> {
    if cached_size::<T>(n) {
        if let Some(v) = with_cache(|c: &mut Cache<T>| c.take(n)).flatten() {
            return v;
        }
    }
    Vec::with_capacity(n)
}

/// `n` copies of `x`, in a cached buffer when one fits.
pub(crate) fn full<T: Float>(n: usize, x: T) -> Vec<T> {
    let mut v = take(n);
    v.resize(n, x);
    v
}

/// Returns `v`'s memory to the cache (or frees it).
pub(crate) fn give<T: Float>(v: Vec<T>) {
    if cached_size::<T>(v.capacity()) {
        let mut v = Some(v);
        with_cache(|c: &mut Cache<T>| c.give(v.take().expect("given once")));
    }
}

/// Frees the tensor buffers cached by the calling thread (each thread keeps up to 64 freed buffers of
/// 4 KiB to 16 MiB, 64 MiB in all, for its next allocations); returns how many
/// bytes were released. Useful after a large computation on a long-lived thread.
pub fn release_cached_buffers() -> usize {
    fn drain<T: Float>() -> usize {
        with_cache(|c: &mut Cache<T>| {
            c.free.clear();
            std::mem::take(&mut c.bytes)
        })
        .unwrap_or(0)
    }
    drain::<f64>() + drain::<f32>()
}

/// Tensor storage: a vector that goes back to the cache of the thread that drops it.
///
/// The recycling function is stored with the data, so [`crate::Tensor`] needs no bound on its element
/// type; it is set for the `Float` types and `None` for anything else.
///
/// A matrix that is the left operand of many thin products (a data matrix in full-batch training) also
/// keeps a column-major copy, built on its [`COLUMN_MAJOR_AFTER`]-th such use: the thin kernel for
/// contiguous columns wastes no vector lanes on `n = 10` (`X V`: 33.5 -> 26 µs for the digits data).
pub(crate) struct Buffer<T> {
    data: Vec<T>,
    recycle: Option<fn(Vec<T>)>,
    /// Allocated on the first thin-product use only, so the common tensor stays small.
    thin: OnceLock<Box<ThinUse<T>>>,
}

/// How often a matrix was the row-major left operand of a thin product, and its column-major copy.
struct ThinUse<T> {
    uses: AtomicU32,
    /// `(rows, cols, the data column-major)`; only ever set for data that no longer changes (writes go
    /// through [`Buffer::as_mut_slice`], which drops it).
    column_major: OnceLock<(usize, usize, Box<[T]>)>,
}

/// Uses as a thin product's row-major left operand before a column-major copy is kept.
pub(crate) const COLUMN_MAJOR_AFTER: u32 = 3;
/// Largest matrix (bytes) given a column-major copy.
const COLUMN_MAJOR_MAX_BYTES: usize = 64 << 20;

impl<T: Float> Buffer<T> {
    pub(crate) fn new(data: Vec<T>) -> Self {
        Buffer { data, recycle: Some(give::<T>), thin: OnceLock::new() }
    }

    /// The data read as a `rows x cols` row-major matrix, stored column-major, once this has been asked
    /// for [`COLUMN_MAJOR_AFTER`] times (`None` before, and for matrices over 64 MiB).
    pub(crate) fn column_major(&self, rows: usize, cols: usize) -> Option<&[T]> {
        debug_assert_eq!(rows * cols, self.data.len());
        if self.data.len() * size_of::<T>() > COLUMN_MAJOR_MAX_BYTES {
            return None;
        }
        let thin =
            self.thin.get_or_init(|| Box::new(ThinUse { uses: AtomicU32::new(0), column_major: OnceLock::new() }));
        if let Some((r, c, t)) = thin.column_major.get() {
            return (*r == rows && *c == cols).then_some(&t[..]);
        }
        if thin.uses.fetch_add(1, Ordering::Relaxed) + 1 < COLUMN_MAJOR_AFTER {
            return None;
        }
        let (_, _, t) = thin.column_major.get_or_init(|| {
            let mut t = vec![T::ZERO; rows * cols].into_boxed_slice();
            for (i, row) in self.data.chunks_exact(cols.max(1)).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    t[j * rows + i] = v;
                }
            }
            (rows, cols, t)
        });
        Some(&t[..])
    }
}

impl<T> Buffer<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        &self.data
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        self.thin.take();
        &mut self.data
    }

    /// The vector, leaving nothing to recycle.
    pub(crate) fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.data)
    }
}

impl<T: Clone> Clone for Buffer<T> {
    /// A copy of the data, made to be written: the column-major copy is not carried over.
    fn clone(&self) -> Self {
        Buffer { data: self.data.clone(), recycle: self.recycle, thin: OnceLock::new() }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        // The size test first: most tensors of a small model are too small to cache, and skip the call.
        if self.data.capacity() * size_of::<T>() >= MIN_BYTES {
            if let Some(recycle) = self.recycle {
                recycle(std::mem::take(&mut self.data));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_tensor_buffer_is_reused_by_the_next_allocation_of_its_size() {
        release_cached_buffers();
        let n = 20_000; // 160 KB of f64: cached
        let first = crate::Tensor::<f64>::zeros(&[n]);
        let ptr = first.as_slice().as_ptr();
        drop(first);
        let v = take::<f64>(n);
        assert_eq!(v.as_ptr(), ptr, "the freed buffer was not reused");
        assert!(v.is_empty() && v.capacity() >= n);
        give(v);
        // A request of under half the buffer's size does not take it.
        let small = take::<f64>(n / 3);
        assert_ne!(small.as_ptr(), ptr);
        assert!(release_cached_buffers() >= n * 8);
        assert_eq!(release_cached_buffers(), 0);
    }

    #[test]
    fn the_cache_keeps_within_its_limits() {
        release_cached_buffers();
        let n = (MAX_BYTES / 8) / 8; // eight of these fill the byte limit
        for _ in 0..20 {
            give(Vec::<f64>::with_capacity(n));
        }
        let bytes = with_cache(|c: &mut Cache<f64>| c.bytes).unwrap();
        assert!(bytes <= MAX_BYTES, "{bytes} cached");
        for _ in 0..2 * MAX_BUFFERS {
            give(Vec::<f64>::with_capacity(4096));
        }
        assert!(with_cache(|c: &mut Cache<f64>| c.free.len()).unwrap() <= MAX_BUFFERS);
        // Too small and too large buffers are never cached.
        release_cached_buffers();
        give(Vec::<f64>::with_capacity(16));
        give(Vec::<f32>::with_capacity(MAX_BUFFER_BYTES));
        assert_eq!(release_cached_buffers(), 0);
    }

    #[test]
    fn into_vec_and_clone_keep_the_data() {
        let t = crate::Tensor::<f32>::from_vec((0..5000).map(|i| i as f32).collect(), &[5000]);
        let u = t.clone();
        assert_eq!(u.into_vec()[4999], 4999.0, "shared storage is copied out");
        assert_eq!(t.into_vec()[1], 1.0, "unshared storage is moved out");
    }
}
