//! Objectives whose data are split over ranks, for the full-batch second-order methods.
//!
//! Each rank holds its shard of the data and an objective over it; the wrappers here make every value,
//! gradient and product a sum over ranks, so Newton-CG, trust region, L-BFGS, Gauss-Newton and
//! Levenberg-Marquardt run unchanged: every rank gets the same numbers, so takes the same branches and ends
//! with the same iterates, counts and stop reason.
//!
//! | wrapper | local part on rank `k` | what the method sees |
//! |---|---|---|
//! | [`ShardedObjective`] | `f_k(x)` over the shard (e.g. the shard's share of a mean loss) | `f = sum_k f_k`, `grad f = sum_k grad f_k`, `H v = sum_k H_k v` |
//! | [`ShardedLeastSquares`] | residuals `r_k(x)` of the shard's rows | `r = [r_0; r_1; ...]`, `J v = [J_0 v; J_1 v; ...]`, `J^T u = sum_k J_k^T u_k` |
//!
//! A full-batch mean loss `1/N sum_i l_i` over `N` rows is split as `f_k = 1/N sum_{i in shard k} l_i`, with a
//! regulariser added on one rank only (or divided by the number of ranks on each).
//!
//! Collectives inside the trait methods cannot return errors through the `Objective` API: a failed
//! collective (a peer died) panics with the [`DistError`](crate::DistError), which ends this rank too.

use std::cell::Cell;

use wengert_autodiff::Float;
use wengert_optim::linalg::LinOp;
use wengert_optim::objective::{Jacobian, LeastSquares, Objective};

use crate::{all_reduce_sum, Communicator};

#[track_caller]
fn reduce<T: Float, C: Communicator + ?Sized>(comm: &C, buf: &mut [T]) {
    all_reduce_sum(comm, buf).unwrap_or_else(|e| panic!("sharded objective: {e}"))
}

/// The sum over ranks of each rank's objective over its shard (see the module doc).
pub struct ShardedObjective<'c, O, C: ?Sized> {
    local: O,
    comm: &'c C,
}

impl<'c, O, C: Communicator + ?Sized> ShardedObjective<'c, O, C> {
    /// Wraps this rank's objective `local`.
    pub fn new(local: O, comm: &'c C) -> Self {
        ShardedObjective { local, comm }
    }

    /// This rank's objective.
    pub fn local(&mut self) -> &mut O {
        &mut self.local
    }
}

/// `H v = sum_k H_k v`: the local product, then one all-reduce.
struct SummedOp<'a, T: Float, C: ?Sized> {
    local: &'a dyn LinOp<T>,
    comm: &'a C,
}

impl<T: Float, C: Communicator + ?Sized> LinOp<T> for SummedOp<'_, T, C> {
    fn dim(&self) -> usize {
        self.local.dim()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        self.local.apply(v, y);
        reduce(self.comm, y);
    }
}

impl<T: Float, O: Objective<T>, C: Communicator + ?Sized> Objective<T> for ShardedObjective<'_, O, C> {
    fn value(&mut self, x: &[T]) -> T {
        let mut f = [self.local.value(x)];
        reduce(self.comm, &mut f);
        f[0]
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        // value and gradient in one message
        let f = self.local.value_grad(x, g);
        let mut buf = Vec::with_capacity(g.len() + 1);
        buf.extend_from_slice(g);
        buf.push(f);
        reduce(self.comm, &mut buf);
        let f = buf.pop().expect("the value is the last element");
        g.copy_from_slice(&buf);
        f
    }
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        let comm = self.comm;
        let (f, out) = self.local.with_hessian(x, g, |g_local, h| {
            let mut g_sum = g_local.to_vec();
            reduce(comm, &mut g_sum);
            let out = body(&g_sum, &SummedOp { local: h, comm });
            (g_sum, out)
        });
        let (g_sum, out) = out;
        g.copy_from_slice(&g_sum);
        let mut f = [f];
        reduce(comm, &mut f);
        (f[0], out)
    }
}

/// The residuals of all ranks' shards stacked in rank order (see the module doc).
///
/// The number of rows per rank is exchanged at the first evaluation and checked at every later one.
pub struct ShardedLeastSquares<'c, L, C: ?Sized> {
    local: L,
    comm: &'c C,
    /// Rows of every rank, once known.
    rows: Cell<Option<Vec<usize>>>,
}

impl<'c, L, C: Communicator + ?Sized> ShardedLeastSquares<'c, L, C> {
    /// Wraps this rank's least-squares problem `local`.
    pub fn new(local: L, comm: &'c C) -> Self {
        ShardedLeastSquares { local, comm, rows: Cell::new(None) }
    }

    /// This rank's problem.
    pub fn local(&mut self) -> &mut L {
        &mut self.local
    }
}

/// Every rank's row count; the first call exchanges them (`cache` keeps them), later calls check this
/// rank's count did not change.
fn layout<T: Float, C: Communicator + ?Sized>(
    comm: &C,
    cache: &Cell<Option<Vec<usize>>>,
    local_rows: usize,
) -> Vec<usize> {
    let rows = cache.take().unwrap_or_else(|| {
        let mut counts = vec![T::ZERO; comm.size()];
        counts[comm.rank()] = T::from_usize(local_rows);
        reduce(comm, &mut counts);
        counts.iter().map(|c| c.to_f64() as usize).collect()
    });
    assert_eq!(
        rows[comm.rank()],
        local_rows,
        "ShardedLeastSquares: this rank's residual count changed between evaluations"
    );
    cache.set(Some(rows.clone()));
    rows
}

/// Stacks each rank's `local` vector at its offset: zeros elsewhere, then a sum (adding zeros is exact).
fn gather<T: Float, C: Communicator + ?Sized>(comm: &C, rows: &[usize], local: &[T], out: &mut [T]) {
    let off: usize = rows[..comm.rank()].iter().sum();
    out.fill(T::ZERO);
    out[off..off + local.len()].copy_from_slice(local);
    reduce(comm, out);
}

struct StackedJacobian<'a, T: Float, C: ?Sized> {
    local: &'a dyn Jacobian<T>,
    comm: &'a C,
    rows: &'a [usize],
}

impl<T: Float, C: Communicator + ?Sized> Jacobian<T> for StackedJacobian<'_, T, C> {
    fn rows(&self) -> usize {
        self.rows.iter().sum()
    }
    fn cols(&self) -> usize {
        self.local.cols()
    }
    fn jv(&self, v: &[T], out: &mut [T]) {
        let mut mine = vec![T::ZERO; self.local.rows()];
        self.local.jv(v, &mut mine);
        gather(self.comm, self.rows, &mine, out);
    }
    fn jtu(&self, u: &[T], out: &mut [T]) {
        let off: usize = self.rows[..self.comm.rank()].iter().sum();
        self.local.jtu(&u[off..off + self.local.rows()], out);
        reduce(self.comm, out);
    }
}

impl<T: Float, L: LeastSquares<T>, C: Communicator + ?Sized> LeastSquares<T> for ShardedLeastSquares<'_, L, C> {
    fn residuals(&mut self, x: &[T]) -> Vec<T> {
        let mine = self.local.residuals(x);
        let rows = layout::<T, C>(self.comm, &self.rows, mine.len());
        let mut all = vec![T::ZERO; rows.iter().sum()];
        gather(self.comm, &rows, &mine, &mut all);
        all
    }
    fn with_jacobian<R>(&mut self, x: &[T], body: impl FnOnce(&[T], &dyn Jacobian<T>) -> R) -> R {
        let (comm, cache) = (self.comm, &self.rows);
        self.local.with_jacobian(x, |r_local, j| {
            let rows = layout::<T, C>(comm, cache, r_local.len());
            let mut r = vec![T::ZERO; rows.iter().sum()];
            gather(comm, &rows, r_local, &mut r);
            body(&r, &StackedJacobian { local: j, comm, rows: &rows })
        })
    }
}
