//! A graph run many times with only some inputs changing: the part those inputs do not reach
//! runs once, the rest once per change, reading the first part's results where ONNX Runtime left
//! them.

use std::collections::BTreeMap;

use super::Runtime;
use super::session::{Kept, Session};
use crate::error::{Error, Result};
use crate::ir::split::{Recompute, SplitGraph, split_at_inputs};
use crate::ir::{Graph, Tensor};

/// Sessions for a graph split at its varying inputs ([`split_at_inputs`]), the fixed part
/// already run.
pub struct StagedSession {
    varying: Session,
    varying_inputs: Vec<String>,
    carried: Kept,
    fixed_outputs: BTreeMap<String, Tensor>,
}

impl Runtime {
    /// Splits `g` at the inputs named in `varying`, runs the part they do not reach once on
    /// `feeds` (every input but the varying ones) and returns the sessions ready for
    /// [`StagedSession::run`]. Each part's memory is checked as [`Runtime::session_for`] does.
    ///
    /// Holding the fixed part's results costs memory: every value the varying part reads is
    /// alive at once, where a whole run frees each after its last reader. The fastest split
    /// carries everything but reshapes (a training graph's unfolded convolution inputs
    /// included: twice the peak memory of a whole run on a NAS-Bench-201 cell); when that does
    /// not fit, the varying part also recomputes the ops that expand their input; when that
    /// does not fit either but the whole graph does, every run computes the whole graph.
    pub fn staged_session(
        &self,
        g: &Graph,
        varying: &[String],
        feeds: &[(&str, &Tensor)],
    ) -> Result<StagedSession> {
        let fits = |s: &SplitGraph| {
            self.check_memory(&s.fixed).is_ok() && self.check_memory(&s.varying).is_ok()
        };
        let mut split = split_at_inputs(g, varying, Recompute::Reshapes)?;
        if !fits(&split) {
            split = split_at_inputs(g, varying, Recompute::ReshapesAndExpansions)?;
        }
        if !fits(&split) && self.check_memory(g).is_ok() {
            let whole = self.session_for(g)?;
            return Ok(StagedSession {
                varying_inputs: whole.input_names(),
                varying: whole,
                carried: Kept::default(),
                fixed_outputs: BTreeMap::new(),
            });
        }
        let mut fixed_outputs = BTreeMap::new();
        let mut carried = Kept::default();
        if !split.fixed.outputs().is_empty() {
            let mut fixed = self.session_for(&split.fixed)?;
            let names = fixed.input_names();
            let fixed_feeds: Vec<(&str, &Tensor)> =
                feeds.iter().filter(|(n, _)| names.iter().any(|m| m == n)).copied().collect();
            if fixed_feeds.len() != names.len() {
                let missing = names.iter().find(|m| !feeds.iter().any(|(n, _)| n == m));
                return Err(Error::Input(format!(
                    "no value given for input '{}'",
                    missing.map_or("?", |m| m.as_str())
                )));
            }
            (fixed_outputs, carried) =
                fixed.run_keeping(&fixed_feeds, &Kept::default(), &split.carried)?;
            // A source output the varying part also reads was kept: copy it out too.
            for name in &split.fixed_outputs {
                if let Some(t) = carried.tensor(name) {
                    fixed_outputs.insert(name.clone(), t?);
                }
            }
        }
        let varying_session = self.session_for(&split.varying)?;
        let varying_inputs = varying_session
            .input_names()
            .into_iter()
            .filter(|n| !carried.names().any(|c| c == n))
            .collect();
        Ok(StagedSession { varying: varying_session, varying_inputs, carried, fixed_outputs })
    }
}

impl StagedSession {
    /// Runs the varying part. `feeds` may hold every input of the source graph; the ones the
    /// varying part reads are taken. Returns the outputs the varying part computes.
    pub fn run(&mut self, feeds: &[(&str, &Tensor)]) -> Result<BTreeMap<String, Tensor>> {
        let mut own: Vec<(&str, &Tensor)> = Vec::with_capacity(self.varying_inputs.len());
        for name in &self.varying_inputs {
            let (_, t) = feeds
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| Error::Input(format!("no value given for input '{name}'")))?;
            own.push((name.as_str(), t));
        }
        Ok(self.varying.run_keeping(&own, &self.carried, &[])?.0)
    }

    /// The source graph's outputs that the fixed part computed (the same for every run).
    pub fn fixed_outputs(&self) -> &BTreeMap<String, Tensor> {
        &self.fixed_outputs
    }

    /// The output `name` of the source graph: from `run` (what [`StagedSession::run`] returned)
    /// or from the fixed part.
    pub fn output<'a>(
        &'a self,
        run: &'a BTreeMap<String, Tensor>,
        name: &str,
    ) -> Result<&'a Tensor> {
        run.get(name)
            .or_else(|| self.fixed_outputs.get(name))
            .ok_or_else(|| Error::Runtime(format!("output '{name}' missing")))
    }
}
