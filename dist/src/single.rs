//! [`SingleProcess`]: the communicator of a run that is not distributed.

use crate::{check_root, Communicator, Result};

/// One rank: every collective leaves its buffer as it is. Code written against [`Communicator`] runs
/// unchanged without threads or MPI.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn broadcast_f64(&self, _: &mut [f64], root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn broadcast_f32(&self, _: &mut [f32], root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn broadcast_bytes(&self, _: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}
