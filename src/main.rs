//! The `omnibridge` binary.

fn main() {}
