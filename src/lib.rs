//! # intrain
//!
//! Tells, before any training, whether a neural network will train well, and uses that to
//! search architectures. This crate is the library behind the `intrain` command:
//!
//! - [`ir`]: our own graph representation with static shapes, costs and parameter counts;
//! - [`onnx`]: ONNX models in and out (the only module that touches protobuf);
//! - [`runtime`]: ONNX Runtime sessions (the only module that touches `ort`), and how the
//!   ONNX Runtime library is found or fetched;
//! - [`npy`]: `.npy` arrays in and out;
//! - [`autodiff`]: training graphs (forward + loss + backward) in standard ONNX ops;
//! - [`analysis`]: gradient statistics from one forward + backward pass;
//! - [`space`]: search spaces described in YAML and their architectures;
//! - [`scoring`]: scoring architectures of a space under a protocol, with resumable records;
//! - [`plot`]: line, scatter and bar charts saved as SVG or PNG without system dependencies;
//! - [`stats`]: rank correlations (Kendall, Spearman) and bootstrap intervals;
//! - [`yaml`]: the one YAML parser (search spaces, check policies);
//! - [`eval`]: proxies against benchmark ground truth (Kendall tau-b, Spearman, bootstrap);
//! - [`search`]: InTrain-NAS evolutionary search and random search, resumable;
//! - [`nets`]: reference networks built in Rust (used by tests, examples and benchmarks).

pub mod amount;
pub mod analysis;
pub mod autodiff;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod init;
pub mod ir;
pub mod nets;
pub mod npy;
pub mod onnx;
pub mod plot;
pub mod runtime;
pub mod schemas;
pub mod scoring;
pub mod search;
pub mod space;
pub mod stats;
pub mod yaml;

pub use error::{Error, Result};
