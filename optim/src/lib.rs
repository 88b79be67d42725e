//! Optimisers and solvers.
