//! Gradient-stopped copies: each detached value is read by its consumers through an `Identity`
//! that the reverse walk treats as a leaf, so that what the consumers pass back stays there (the
//! local vector-Jacobian product of the nodes that read the value) and flows no further.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ir::passes::rebuild;
use crate::ir::{Graph, OpType, Tensor};

/// The name of the gradient-stopped copy of the value `name` in the graph `src`.
fn copy_name(src: &Graph, name: &str) -> String {
    let base = format!("{name}_detached");
    let mut candidate = base.clone();
    let mut k = 1;
    while src.find(&candidate).is_some() {
        candidate = format!("{base}_{k}");
        k += 1;
    }
    candidate
}

/// `src` with an `Identity` copy (named by [`copy_name`]) between each value of `names` and its
/// consumers, and the copies' names in the order of `names`; `src` itself when `names` is empty.
pub(super) fn insert_copies(src: &Graph, names: &[String]) -> Result<(Graph, Vec<String>)> {
    if names.is_empty() {
        return Ok((src.clone(), Vec::new()));
    }
    let mut copies: BTreeMap<String, String> = BTreeMap::new();
    for name in names {
        let id = src.find(name).ok_or_else(|| {
            Error::Input(format!("value to detach '{name}' is not a tensor of the model"))
        })?;
        if src.producer(id).is_none() {
            return Err(Error::Input(format!(
                "'{name}' is a graph input or initializer: only computed values can be detached"
            )));
        }
        copies.insert(name.clone(), copy_name(src, name));
    }
    let copy_names = names.iter().map(|n| copies[n].clone()).collect();
    let g = rebuild(src, Tensor::clone, |g, node, inputs| {
        let names: Vec<String> = node.outputs.iter().map(|&o| src.value(o).name.clone()).collect();
        let mut outs =
            g.add_node(node.name.clone(), node.op, inputs, node.attrs.clone(), &names)?;
        for (out, name) in outs.iter_mut().zip(&names) {
            if let Some(copy) = copies.get(name) {
                *out = g.add_node(
                    copy.clone(),
                    OpType::Identity,
                    &[Some(*out)],
                    BTreeMap::new(),
                    std::slice::from_ref(copy),
                )?[0];
            }
        }
        Ok(outs)
    })?;
    Ok((g, copy_names))
}
