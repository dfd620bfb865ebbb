//! Sibling convolutions: `group = 1` convolutions that read the same tensor with the same
//! geometry (the edges leaving one NAS-Bench-201 node, an Inception block's 1x1 branches). The
//! reverse walk defers their backward until all of them have their output gradients, then
//! differentiates them together ([`conv_group`]): one dX convolution and one dW MatMul over the
//! shared im2col instead of one per sibling, and no sum of their dX.

use std::collections::HashMap;

use super::emit::Emitter;
use super::rules::{ConvUse, conv_group};
use crate::error::Result;
use crate::ir::{Graph, NodeAttrs, NodeId, OpType, ValueId};

/// A deferred convolution backward.
struct Deferred {
    node: NodeId,
    g: ValueId,
    needs: Vec<bool>,
}

/// Groups of sibling convolutions and the backward passes waiting for their siblings.
pub struct Siblings {
    /// Group index of each grouped node.
    group_of: HashMap<NodeId, usize>,
    /// The (source-graph) input each group reads.
    input: Vec<ValueId>,
    /// The groups reading each input.
    groups_reading: HashMap<ValueId, Vec<usize>>,
    /// Deferred members of each group, in the order the reverse walk met them.
    pending: Vec<Vec<Deferred>>,
}

impl Siblings {
    /// Finds the groups of two or more live sibling convolutions in `src`.
    pub fn find(src: &Graph, live: &[bool]) -> Siblings {
        let mut by_key: HashMap<String, Vec<NodeId>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, node) in src.nodes().iter().enumerate() {
            if !live[i] || node.op != OpType::Conv {
                continue;
            }
            let (Some(x), Some(w)) = (node.input(0), node.input(1)) else { continue };
            let single_group = matches!(node.attr_int("group", 1), Ok(1));
            let ws = &src.value(w).ty.shape;
            if !single_group || src.value(x).ty.shape.len() != 4 || ws.len() != 4 {
                continue;
            }
            // Same input, same attributes, same weight shape but for the output channels.
            let key = format!("{x:?} {:?} {:?}", &ws[1..], node.attrs);
            if !by_key.contains_key(&key) {
                order.push(key.clone());
            }
            by_key.entry(key).or_default().push(NodeId(i));
        }
        let mut s = Siblings {
            group_of: HashMap::new(),
            input: Vec::new(),
            groups_reading: HashMap::new(),
            pending: Vec::new(),
        };
        for key in order {
            let members = &by_key[&key];
            if members.len() < 2 {
                continue;
            }
            let g = s.input.len();
            let x = src.node(members[0]).input(0).expect("grouped convolutions have inputs");
            s.input.push(x);
            s.groups_reading.entry(x).or_default().push(g);
            s.pending.push(Vec::new());
            for &m in members {
                s.group_of.insert(m, g);
            }
        }
        s
    }

    /// Defers the backward of `node` if it belongs to a group; `false` if it does not.
    pub fn defer(&mut self, node: NodeId, g: ValueId, needs: &[bool]) -> bool {
        match self.group_of.get(&node) {
            Some(&k) => {
                self.pending[k].push(Deferred { node, g, needs: needs.to_vec() });
                true
            }
            None => false,
        }
    }

    /// Emits the deferred backward of every group reading `x` (all of `x`'s consumers have been
    /// visited once the reverse walk reaches `x`'s producer), or with `None` of every group still
    /// deferred (groups reading graph inputs or parameters, after the walk).
    pub fn flush(
        &mut self,
        x: Option<ValueId>,
        e: &mut Emitter,
        src: &Graph,
        map: &[Option<ValueId>],
        grads: &mut [Vec<ValueId>],
    ) -> Result<()> {
        let groups: Vec<usize> = match x {
            Some(x) => self.groups_reading.get(&x).cloned().unwrap_or_default(),
            None => (0..self.input.len()).collect(),
        };
        for k in groups {
            if !self.pending[k].is_empty() {
                self.emit(k, e, src, map, grads)?;
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        k: usize,
        e: &mut Emitter,
        src: &Graph,
        map: &[Option<ValueId>],
        grads: &mut [Vec<ValueId>],
    ) -> Result<()> {
        let mut members = std::mem::take(&mut self.pending[k]);
        members.sort_by_key(|m| m.node.0); // forward order: names and layout read naturally
        let emitted = |v: ValueId| {
            map[v.0].ok_or_else(|| {
                crate::error::Error::InvalidModel(format!(
                    "'{}' was not emitted",
                    src.value(v).name
                ))
            })
        };
        let x_src = self.input[k];
        let x = emitted(x_src)?;
        let mut uses = Vec::with_capacity(members.len());
        for m in &members {
            let node = src.node(m.node);
            let w = emitted(node.input(1).expect("grouped convolutions have weights"))?;
            let need = |i: usize| m.needs.get(i).copied().unwrap_or(false);
            uses.push(ConvUse { node, w, g: m.g, need_w: need(1), need_b: need(2) });
        }
        let need_x = members.iter().any(|m| m.needs[0]);
        let scope = if members.len() == 1 {
            format!("{}_Grad", uses[0].node.name)
        } else {
            format!("{}_siblings_Grad", uses[0].node.name)
        };
        e.push_scope(&scope);
        let r = conv_group(e, x, need_x, &uses);
        e.pop_scope();
        let r = r?;
        if let Some(dx) = r.dx {
            grads[x_src.0].push(dx);
        }
        for (m, (dw, db)) in members.iter().zip(r.per_use) {
            let node = src.node(m.node);
            for (slot, d) in [(1, dw), (2, db)] {
                if let (Some(d), Some(v)) = (d, node.input(slot)) {
                    grads[v.0].push(d);
                }
            }
        }
        Ok(())
    }
}
