//! Simulations for the memory chapter (work in progress).
