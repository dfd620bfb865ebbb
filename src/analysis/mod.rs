//! Reductions of what a training graph computes into numbers users read.

pub mod forward;
pub mod gates;
pub mod gradients;
pub mod inspect;
pub mod intrain;
pub mod participation;
pub mod policy;
pub mod score;
