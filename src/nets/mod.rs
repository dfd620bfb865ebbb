//! Reference networks built in Rust, used by tests, examples and benchmarks.

pub mod nb201;
pub mod tiny_cnn;
