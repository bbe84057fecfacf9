//! Graded exercises (work in progress).
