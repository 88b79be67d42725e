//! [`MpiComm`]: the ranks `mpirun` started, over `MPI_COMM_WORLD` (cargo feature `mpi`).

use std::ffi::{c_int, c_void};

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Root};

use crate::{check_root, Communicator, DistError, Result};

extern "C" {
    /// The MPI library's `MPI_IN_PLACE`, exported by `src/mpi_in_place.c` (see `build.rs`).
    static wengert_mpi_in_place: *const c_void;
}

/// The world communicator of an MPI job: start the program with `mpirun -np N`.
///
/// Creating it initialises MPI; dropping it finalises MPI (create one per process). It also installs a
/// panic hook that prints the panic and calls `MPI_Abort`, so a rank that panics ends the whole job with a
/// non-zero exit status instead of leaving the other ranks blocked in a collective. MPI errors themselves
/// abort the job (MPI's default `MPI_ERRORS_ARE_FATAL`).
///
/// When the ranks on this machine (those sharing its memory, `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`)
/// are at least as many as its cores, `init` turns intra-op parallelism off on the calling thread
/// ([`wengert_autodiff::set_intra_op_parallel`]`(false)`): every core already runs a rank, as PyTorch's
/// launcher sets `OMP_NUM_THREADS=1` in each of its processes. Turn it back on after `init` to override.
///
/// Each all-reduce first checks, in one small extra all-reduce, that every rank passed the same length: a
/// mismatch is a [`DistError::LengthMismatch`] on every rank rather than memory corruption.
pub struct MpiComm {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    // Finalises MPI when dropped: keep it last so `world` is dropped before it.
    _universe: Universe,
}

impl MpiComm {
    /// Initialises MPI and returns the world communicator, or `None` if MPI was already initialised.
    pub fn init() -> Option<Self> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        let on_this_machine = world.split_shared(world.rank()).size() as usize;
        if on_this_machine >= std::thread::available_parallelism().map_or(1, |c| c.get()) {
            wengert_autodiff::set_intra_op_parallel(false);
        }
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            eprintln!("rank {rank}: panicked; aborting the MPI job");
            SimpleCommunicator::world().abort(101);
        }));
        Some(MpiComm { world, rank, size, _universe: universe })
    }

    /// Checks that every rank passed `len` (max and min over ranks in one all-reduce).
    fn check_len(&self, op: &'static str, len: usize) -> Result<()> {
        let mine = [len as i64, -(len as i64)];
        let mut ext = [0_i64; 2];
        self.world.all_reduce_into(&mine[..], &mut ext[..], SystemOperation::max());
        let (max, min) = (ext[0], -ext[1]);
        if max == min {
            Ok(())
        } else {
            let other = if max as usize != len { max } else { min } as usize;
            Err(DistError::LengthMismatch { op, local: len, other })
        }
    }
}

macro_rules! reduce_and_broadcast {
    ($reduce:ident, $bcast:ident, $t:ty) => {
        fn $reduce(&self, buf: &mut [$t]) -> Result<()> {
            self.check_len("all_reduce", buf.len())?;
            // In place: the bindings only offer a separate send buffer, which would cost a copy of `buf`.
            for part in buf.chunks_mut(c_int::MAX as usize) {
                // SAFETY: MPI_IN_PLACE as the send buffer makes `part` both the input and the output of the
                // reduction; `part` holds `part.len()` (at most `c_int::MAX`) elements of the MPI datatype `$t`
                // is equivalent to; the communicator and the operation are live handles. MPI errors abort
                // the job (MPI_ERRORS_ARE_FATAL).
                unsafe {
                    ffi::MPI_Allreduce(
                        wengert_mpi_in_place,
                        part.as_mut_ptr().cast::<c_void>(),
                        part.len() as c_int,
                        <$t>::equivalent_datatype().as_raw(),
                        SystemOperation::sum().as_raw(),
                        self.world.as_raw(),
                    );
                }
            }
            Ok(())
        }
        fn $bcast(&self, buf: &mut [$t], root: usize) -> Result<()> {
            check_root(root, self.size)?;
            self.check_len("broadcast", buf.len())?;
            self.world.process_at_rank(root as i32).broadcast_into(buf);
            Ok(())
        }
    };
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    reduce_and_broadcast!(all_reduce_sum_f64, broadcast_f64, f64);
    reduce_and_broadcast!(all_reduce_sum_f32, broadcast_f32, f32);
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(root, self.size)?;
        let root_proc = self.world.process_at_rank(root as i32);
        let mut len = buf.len() as u64;
        root_proc.broadcast_into(&mut len);
        buf.resize(len as usize, 0);
        root_proc.broadcast_into(&mut buf[..]);
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }
}
