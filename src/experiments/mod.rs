//! Experiments over many architectures, as library functions that return serialisable results
//! (the command line renders them as Markdown, JSON, CSV and plots):
//!
//! - [`batch`]: score a list or a seeded sample of a space's architectures into a record file;
//! - [`eval_grid`]: rank correlation of proxies with benchmark ground truth over seeds and
//!   batch sizes;
//! - [`search_table`]: the paper's search table (best-by-proxy of random samples, accuracies of
//!   the selected architectures).
//!
//! Every score comes from a [`crate::scoring::Scorer`], so all of them share one record file
//! and skip what it already holds.

pub mod batch;
pub mod eval_grid;
pub mod search_table;

/// A hidden progress bar, for callers that want none.
pub fn no_progress() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}
