//! What a training graph is asked for, resolved to values of the source graph, and the two
//! masks the forward copy and the reverse walk share: the live nodes and the values that need a
//! gradient.

use std::collections::HashSet;

use super::{ParamSet, TrainingOptions};
use crate::autodiff::{GradSupport, gradient_support};
use crate::error::{Error, Result};
use crate::ir::cost::{Parameter, parameters};
use crate::ir::passes::Rewritten;
use crate::ir::{Graph, OpType, ValueId};

/// The options' names resolved to values of the (duplicate-merged) source graph.
pub(super) struct Targets {
    /// The forward output the loss reads.
    pub output: ValueId,
    /// The parameters to differentiate, in order of first use.
    pub params: Vec<Parameter>,
    /// Activations exposed as outputs, in the options' order.
    pub activations: Vec<ValueId>,
    /// Activations whose gradients are exposed, in the options' order.
    pub activation_grads: Vec<ValueId>,
    /// Activations exposed as channel Gram matrices, in the options' order.
    pub activation_grams: Vec<ValueId>,
    /// Values exposed as sign kernels, in the options' order.
    pub sign_kernels: Vec<ValueId>,
    /// Values exposed as channel products with their gradients, in the options' order.
    pub grad_products: Vec<ValueId>,
    /// Projections (value, direction), in the options' order.
    pub projections: Vec<(ValueId, ValueId)>,
    /// Values seeded with a fed cotangent, in the options' order.
    pub cotangents: Vec<ValueId>,
    /// The gradient-stopped copies of the detached values, in the options' order.
    pub detached: Vec<ValueId>,
}

impl Targets {
    /// Resolves the options' loss output, parameters and activations. A name that was merged
    /// with an identical computation resolves to the kept one.
    /// `copies` names the gradient-stopped copies of the options' detached values.
    pub fn resolve(
        merged: &Rewritten,
        opts: &TrainingOptions,
        copies: &[String],
    ) -> Result<Targets> {
        let src = &merged.graph;
        let find = |name: &str, what: &str| -> Result<ValueId> {
            let name = merged.aliases.get(name).map(String::as_str).unwrap_or(name);
            src.find(name).ok_or_else(|| {
                Error::Input(format!("{what} '{name}' is not a tensor of the model"))
            })
        };
        let output = match &opts.output {
            Some(n) => find(n, "loss output")?,
            None => *src
                .outputs()
                .first()
                .ok_or_else(|| Error::InvalidModel("the model has no outputs".into()))?,
        };
        let params = select_params(src, &opts.params)?;
        let activations_named = |names: &[String]| -> Result<Vec<ValueId>> {
            names.iter().map(|n| find(n, "activation")).collect()
        };
        let activation_grads = activations_named(&opts.activation_grads)?;
        let activations = activations_named(&opts.activations)?;
        let activation_grams = activations_named(&opts.activation_grams)?;
        let sign_kernels = activations_named(&opts.sign_kernels)?;
        let grad_products = activations_named(&opts.grad_products)?;
        let cotangents = opts
            .cotangents
            .iter()
            .map(|n| find(n, "cotangent value"))
            .collect::<Result<Vec<_>>>()?;
        let projections = opts
            .projections
            .iter()
            .map(|(v, d)| Ok((find(v, "projected value")?, find(d, "projection direction")?)))
            .collect::<Result<Vec<_>>>()?;
        let detached =
            copies.iter().map(|n| find(n, "detached copy")).collect::<Result<Vec<_>>>()?;
        Ok(Targets {
            output,
            params,
            activations,
            activation_grads,
            activation_grams,
            sign_kernels,
            grad_products,
            projections,
            cotangents,
            detached,
        })
    }

    /// The live nodes: those the loss output, a cotangent value or an exposed activation depends
    /// on.
    pub fn live_nodes(&self, src: &Graph) -> Vec<bool> {
        let mut live_values: HashSet<ValueId> = [self.output]
            .into_iter()
            .chain(self.cotangents.iter().copied())
            .chain(self.projections.iter().map(|&(_, d)| d))
            .chain(self.activations.iter().copied())
            .chain(self.activation_grams.iter().copied())
            .chain(self.sign_kernels.iter().copied())
            .collect();
        let mut live = vec![false; src.nodes().len()];
        for (i, node) in src.nodes().iter().enumerate().rev() {
            if node.outputs.iter().any(|o| live_values.contains(o)) {
                live[i] = true;
                live_values.extend(node.inputs.iter().flatten().copied());
            }
        }
        live
    }

    /// The values that need a gradient, by value index: the differentiated parameters and
    /// activations, and every float value computed from them through ops that have a gradient.
    pub fn needs_gradient(&self, src: &Graph) -> Vec<bool> {
        let mut need = vec![false; src.values().len()];
        for p in &self.params {
            need[p.value.0] = true;
        }
        let projected = self.projections.iter().map(|(v, _)| v);
        for &a in self
            .activation_grads
            .iter()
            .chain(&self.grad_products)
            .chain(&self.detached)
            .chain(projected)
        {
            need[a.0] = true;
        }
        for node in src.nodes() {
            if gradient_support(node.op) == GradSupport::NoGradient {
                continue;
            }
            if node.inputs.iter().flatten().any(|v| need[v.0]) {
                for &o in &node.outputs {
                    if src.value(o).ty.dtype.is_float() {
                        need[o.0] = true;
                    }
                }
            }
        }
        need
    }
}

/// The parameters `set` names, in order of first use.
fn select_params(src: &Graph, set: &ParamSet) -> Result<Vec<Parameter>> {
    let all = parameters(src);
    Ok(match set {
        ParamSet::All => all,
        ParamSet::Weights => all
            .into_iter()
            .filter(|p| {
                p.consumers.iter().any(|&(n, slot)| {
                    let op = src.node(n).op;
                    slot == 1 && matches!(op, OpType::Conv | OpType::ConvTranspose | OpType::Gemm)
                        || op == OpType::MatMul
                        || op == OpType::Transpose
                })
            })
            .collect(),
        ParamSet::Named(names) => {
            let mut out = Vec::new();
            for n in names {
                let p = all.iter().find(|p| src.value(p.value).name == *n).ok_or_else(|| {
                    Error::Input(format!("'{n}' is not a parameter of the model"))
                })?;
                out.push(p.clone());
            }
            out
        }
    })
}
