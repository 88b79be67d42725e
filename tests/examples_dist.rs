//! Keeps `examples/data_parallel.rs` alive: its thread-rank run in fast mode, checked against one process.

#[allow(dead_code)]
#[path = "../examples/data_parallel.rs"]
mod data_parallel;

use wengert::optim::second_order::StopReason;

#[test]
fn data_parallel_example_matches_one_process_on_two_ranks() {
    // (3 ranks: `dist/tests/threads.rs` checks data-parallel training; the trust-region path is only
    // required to match on 2, see the example's `agrees`.)
    for ranks in [2] {
        let all = data_parallel::run_threads(ranks, true);
        assert_eq!(all.len(), ranks);
        for s in &all {
            assert!(s.mlp_max_diff <= 1e-12, "{ranks} ranks: MLP differs by {:e}", s.mlp_max_diff);
            assert!(
                s.trust_region_max_diff <= data_parallel::TRUST_REGION_TOL,
                "{ranks} ranks: trust region differs by {:e}",
                s.trust_region_max_diff
            );
            assert!(s.trust_region_same_path, "{ranks} ranks: trust region took another path");
            assert_eq!(s.trust_region.stop, StopReason::GradientTolerance);
            assert!(s.test_accuracy > 0.7, "two epochs of Adam reach {} (chance: 0.1)", s.test_accuracy);
            assert_eq!(s.test_accuracy, all[0].test_accuracy, "replicas agree");
        }
    }
}
