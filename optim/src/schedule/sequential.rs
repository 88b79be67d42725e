//! A sequence of schedules switched at milestones (PyTorch's `SequentialLR`): with milestones
//! `m_1 < m_2 < ...`, schedule `i` runs on steps `[m_i, m_{i+1})` with its own counter restarted at 0:
//!
//! ```text
//! alpha_k = S_i(k - m_i)       where m_0 = 0 and m_i <= k < m_{i+1}
//! ```

use super::Schedule;

/// Schedules chained at milestones (e.g. warm-up then cosine annealing).
#[derive(Debug)]
pub struct Sequential {
    schedules: Vec<Box<dyn Schedule>>,
    milestones: Vec<u64>,
}

impl Sequential {
    /// `schedules[0]` until `milestones[0]`, then `schedules[1]` (restarted at 0) until `milestones[1]`, ...
    ///
    /// # Panics
    /// If `milestones.len() + 1 != schedules.len()` or the milestones are not strictly increasing.
    #[track_caller]
    pub fn new(schedules: Vec<Box<dyn Schedule>>, milestones: Vec<u64>) -> Self {
        assert_eq!(schedules.len(), milestones.len() + 1, "Sequential: need one more schedule than milestones");
        assert!(milestones.windows(2).all(|w| w[0] < w[1]), "Sequential: milestones must increase strictly");
        Sequential { schedules, milestones }
    }
}

impl Schedule for Sequential {
    fn lr_at(&self, k: u64) -> f64 {
        let i = self.milestones.iter().take_while(|&&m| m <= k).count();
        let start = if i == 0 { 0 } else { self.milestones[i - 1] };
        self.schedules[i].lr_at(k - start)
    }
}
