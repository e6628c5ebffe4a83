//! `phpeek-pm`: the process manager binary.

fn main() {}
