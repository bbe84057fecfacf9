//! The course's front door (work in progress).
fn main() {}
