//! Presentation helpers shared by the lessons (work in progress).
