//! # intrain
//!
//! Tells, before any training, whether a neural network will train well, and uses that to
//! search architectures. This crate is the library behind the `intrain` command; the command
//! line is a thin layer in the binary and not part of this API.
//!
//! ## Scoring, in three lines
//!
//! ```no_run
//! use intrain::scoring::{PassOverrides, Protocol, Target, score};
//! use intrain::space::{Arch, SearchSpace};
//! # fn main() -> intrain::Result<()> {
//! let space = SearchSpace::read("models/spaces/nb201.yaml".as_ref())?;
//! let arch = Arch::parse(&space, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")?;
//! let rt = intrain::runtime::Runtime::new(&Default::default())?;
//! let out = score(&rt, Target::Arch { space: &space, arch: &arch }, &Protocol::default(), &PassOverrides::default())?;
//! println!("InTrain {:.3}", out.report.score.intrain);
//! # Ok(())
//! # }
//! ```
//!
//! [`scoring::score`] is the one path every score takes (an ONNX model or an architecture of a
//! search space, under a [`scoring::Protocol`]); [`scoring::Scorer`] adds a record file so that
//! long runs resume; [`scoring::Proxy`] is the registry of proxies.
//!
//! ## Modules, from the bottom up (each uses only those above it)
//!
//! - [`ir`]: our graph representation with static shapes, typed attributes, costs and
//!   parameter counts;
//! - [`amount`]: amounts such as `450M` or `1.2G` (budgets);
//! - [`init`]: seeded initialisation;
//! - [`onnx`]: ONNX models in and out (the only module that touches protobuf);
//! - [`runtime`]: ONNX Runtime sessions (the only module that touches `ort`), and how the
//!   ONNX Runtime library is found or fetched;
//! - [`npy`]: `.npy` arrays in and out;
//! - [`yaml`]: the one YAML parser (search spaces, check policies);
//! - [`autodiff`]: training graphs (forward + loss + backward) in standard ONNX ops; the
//!   BatchNorm mode and parameter set;
//! - [`space`]: search spaces described in YAML, their architectures, costs and budgets;
//! - [`analysis`]: one forward + backward pass, gradient statistics, participation ratios, the
//!   InTrain formula, CI policies;
//! - [`scoring`]: the protocol, the scoring path, the cached scorer, proxies, record files;
//! - [`stats`]: rank correlations (Kendall, Spearman) and bootstrap intervals;
//! - [`eval`]: ground-truth tables and correlations of proxies with them;
//! - [`experiments`]: batch scoring, the evaluation grid and the search table, as functions
//!   returning serialisable results;
//! - [`search`]: InTrain-NAS evolutionary search and random search, resumable runs;
//! - [`schemas`]: the JSON Schemas of reports and files;
//! - [`plot`]: line, scatter and bar charts saved as SVG or PNG without system dependencies;
//! - [`nets`]: reference networks built in Rust (used by tests, examples and benchmarks);
//! - [`bench`]: timings of the NAS-Bench-201 network's build, export, session, forward passes
//!   and training steps.
//!
//! Errors are [`Error`], typed, each naming the file, node, op, attribute or architecture it is
//! about.

pub mod amount;
pub mod analysis;
pub mod autodiff;
pub mod bench;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod fuzzing;
pub mod images;
pub mod init;
pub mod ir;
pub mod limits;
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
