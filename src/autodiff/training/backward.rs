//! The reverse walk: the live nodes in reverse topological order, each differentiated by its
//! op's gradient rule once all its outputs' gradients are summed, sibling convolutions together.

use std::collections::HashSet;

use super::forward::Forward;
use super::targets::Targets;
use crate::autodiff::emit::Emitter;
use crate::autodiff::rules::{self, RuleCtx};
use crate::autodiff::siblings::Siblings;
use crate::autodiff::{GradSupport, gradient_support};
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, NodeId, OpType, ValueId};

/// The gradient contributions each source value (by index) has received: one per consumer that
/// passed a gradient back (fan-out), summed once when the total is first asked for.
pub(super) struct Grads {
    /// The contributions, by source value index.
    pub parts: Vec<Vec<ValueId>>,
}

impl Grads {
    /// No contributions yet, for a source graph of `n_values` values.
    fn new(n_values: usize) -> Grads {
        Grads { parts: vec![Vec::new(); n_values] }
    }

    /// The total gradient of the source value `v` (`name` names the Sum of several
    /// contributions), `None` if nothing flowed back to it.
    pub fn total(&mut self, e: &mut Emitter, v: ValueId, name: &str) -> Result<Option<ValueId>> {
        let parts = &mut self.parts[v.0];
        match parts.len() {
            0 => Ok(None),
            1 => Ok(Some(parts[0])),
            _ => {
                let list = std::mem::take(parts);
                let s = e.op(OpType::Sum, &format!("{name}_grad_sum"), &list, vec![])?;
                self.parts[v.0].push(s);
                Ok(Some(s))
            }
        }
    }
}

/// Walks the `live` nodes of `src` backwards from `seeds` (a value and its loss gradient: the
/// forward output's, and those of the cotangent values), emitting the gradients of every value
/// in `need` (by index). Parameters and detached copies are leaves.
/// Returns the contributions each value received; their totals are the gradients.
pub(super) fn reverse_walk(
    e: &mut Emitter,
    src: &Graph,
    fwd: &Forward,
    live: &[bool],
    need: &[bool],
    targets: &Targets,
    seeds: &[(ValueId, ValueId)],
) -> Result<Grads> {
    let params: HashSet<ValueId> =
        targets.params.iter().map(|p| p.value).chain(targets.detached.iter().copied()).collect();
    let mut grads = Grads::new(src.values().len());
    for &(v, seed) in seeds {
        grads.parts[v.0].push(seed);
    }
    let mut siblings = Siblings::find(src, live);
    for (i, node) in src.nodes().iter().enumerate().rev() {
        if !live[i] {
            continue;
        }
        for &o in &node.outputs {
            siblings.flush(Some(o), e, src, &fwd.map, &mut grads.parts)?;
        }
        let gy: Vec<Option<ValueId>> = node
            .outputs
            .iter()
            .map(|&o| grads.total(e, o, &src.value(o).name))
            .collect::<Result<_>>()?;
        if gy.iter().all(Option::is_none) {
            continue;
        }
        // Parameters are leaves: a parameter that is an Identity of another parameter's
        // initializer is a separate PyTorch parameter, so nothing flows through to it.
        if node.outputs.iter().all(|o| params.contains(o)) {
            continue;
        }
        let needs: Vec<bool> = node.inputs.iter().map(|i| i.is_some_and(|v| need[v.0])).collect();
        if !needs.iter().any(|&n| n) {
            continue;
        }
        if let Some(g) = gy[0]
            && siblings.defer(NodeId(i), g, &needs)
        {
            continue;
        }
        apply_rule(e, node, NodeId(i), fwd, gy, needs, &mut grads)?;
    }
    siblings.flush(None, e, src, &fwd.map, &mut grads.parts)?;
    Ok(grads)
}

/// Differentiates one node: its op's rule, in the `<node>_Grad` scope, turns the output
/// gradients `gy` into the gradients of the inputs in `needs`, which join their contributions.
/// Ops without a gradient pass nothing back; ops without a rule are an error naming the node.
fn apply_rule(
    e: &mut Emitter,
    node: &Node,
    id: NodeId,
    fwd: &Forward,
    gy: Vec<Option<ValueId>>,
    needs: Vec<bool>,
    grads: &mut Grads,
) -> Result<()> {
    let rule = match gradient_support(node.op) {
        GradSupport::NoGradient => return Ok(()),
        GradSupport::Unsupported => {
            return Err(Error::node(
                &node.name,
                node.op,
                "intrain cannot differentiate this op yet",
            ));
        }
        GradSupport::Rule => {
            rules::rule(node.op).ok_or_else(|| Error::node(&node.name, node.op, "missing rule"))?
        }
    };
    let inputs: Vec<Option<ValueId>> =
        node.inputs.iter().map(|i| i.and_then(|v| fwd.map[v.0])).collect();
    let outputs: Vec<ValueId> =
        node.outputs.iter().map(|&o| fwd.map[o.0].unwrap_or(ValueId(usize::MAX))).collect();
    e.push_scope(&format!("{}_Grad", node.name));
    let mut ctx = RuleCtx {
        e: &mut *e,
        node,
        inputs,
        outputs,
        gy,
        needs: needs.clone(),
        bn: fwd.bn_saved.get(&id).copied(),
    };
    let dx = rule(&mut ctx);
    e.pop_scope();
    for (k, d) in dx?.into_iter().enumerate() {
        if let (Some(d), Some(v)) = (d, node.input(k))
            && needs[k]
        {
            grads.parts[v.0].push(d);
        }
    }
    Ok(())
}
