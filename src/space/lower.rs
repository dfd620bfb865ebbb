//! Lowering an architecture to a graph. Node names are readable in Netron: `stem/conv`,
//! `stage2/cell3/edge_2_1/conv`, `reduction1/conv_a/bn`, `stage3/block1/dw/conv`, `head/fc`.
//! Chain blocks are lowered in `blocks.rs`.

use super::spec::{Act, HeadSpec, OpSpec, ReductionSpec, StemSpec};
use super::{Arch, CellArch, SearchSpace};
use crate::autodiff::BnMode;
use crate::error::Result;
use crate::init::Init;
use crate::ir::builder::{Conv2d, Pool2d};
use crate::ir::{DType, Graph, GraphBuilder, OpType, Tensor, TensorType, ValueId};
use crate::limits::Limits;

/// How to lower.
#[derive(Debug, Clone)]
pub struct LowerOptions {
    /// Batch size of the input.
    pub batch: usize,
    /// Input resolution (default: the space's).
    pub resolution: Option<usize>,
    /// BatchNormalization nodes in training mode (batch statistics) or inference mode.
    pub batch_norm: BnMode,
    /// Kaiming-normal weights from this seed; `None` writes zeros (for counting costs only).
    pub seed: Option<u64>,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions { batch: 1, resolution: None, batch_norm: BnMode::Train, seed: Some(0) }
    }
}

pub(super) struct Lowering<'a> {
    pub(super) b: GraphBuilder,
    /// Outputs of the stem, reductions, cells and blocks, in order (the layers InTrain's gamma
    /// counts).
    pub(super) layers: Vec<ValueId>,
    init: Option<Init>,
    opts: &'a LowerOptions,
    /// The shared bounds of ReLU6's Clip.
    relu6: Option<(ValueId, ValueId)>,
    /// The limits in force, and the bytes of the weights made so far.
    limits: Limits,
    weight_bytes: u64,
}

impl Lowering<'_> {
    /// Checks a weight of `shape` against the tensor and total weight limits before it is
    /// allocated.
    fn reserve(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        let what = || format!("weight '{}'", self.b.qualified(name));
        let bytes = self.limits.check_tensor(what, DType::F32, shape)?;
        self.weight_bytes = self.weight_bytes.saturating_add(bytes);
        self.limits.check_weights(what, self.weight_bytes)
    }

    /// A Kaiming-normal weight (zeros when only counting costs).
    pub(super) fn weight(&mut self, name: &str, shape: &[usize]) -> Result<ValueId> {
        self.reserve(name, shape)?;
        let t = match &mut self.init {
            Some(init) => init.kaiming(shape),
            None => Tensor::f32(shape.to_vec(), vec![0.0; shape.iter().product()]),
        };
        self.b.param(name, t)
    }

    /// A weight of `n` copies of `value` (a bias, a BatchNormalization parameter).
    pub(super) fn filled(&mut self, name: &str, n: usize, value: f32) -> Result<ValueId> {
        self.reserve(name, &[n])?;
        self.b.param(name, Tensor::f32([n], vec![value; n]))
    }

    pub(super) fn channels(&self, x: ValueId) -> usize {
        self.b.graph().value(x).ty.shape[1]
    }

    pub(super) fn bn(&mut self, name: &str, x: ValueId) -> Result<ValueId> {
        let c = self.channels(x);
        let g = self.filled(&format!("{name}.weight"), c, 1.0)?;
        let be = self.filled(&format!("{name}.bias"), c, 0.0)?;
        let m = self.filled(&format!("{name}.running_mean"), c, 0.0)?;
        let v = self.filled(&format!("{name}.running_var"), c, 1.0)?;
        self.b.batch_norm(name, x, g, be, m, v, 1e-5, self.opts.batch_norm == BnMode::Train)
    }

    pub(super) fn conv(
        &mut self,
        name: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<ValueId> {
        let cin = self.channels(x);
        let w = self.weight(&format!("{name}.weight"), &[cout, cin, k, k])?;
        self.b.conv(
            name,
            x,
            w,
            None,
            Conv2d { stride, pad: dilation * (k - 1) / 2, dilation, group: 1 },
        )
    }

    /// An activation node named after the function (`relu6`, `hswish`, ...).
    pub(super) fn act(&mut self, act: Act, x: ValueId) -> Result<ValueId> {
        let name = act.name();
        match act {
            Act::Relu => self.b.relu(name, x),
            Act::Relu6 => {
                let (lo, hi) = match self.relu6 {
                    Some(b) => b,
                    None => {
                        self.b.push_scope_root();
                        let lo = self.b.param("relu6.min", Tensor::f32_scalar(0.0));
                        let hi = self.b.param("relu6.max", Tensor::f32_scalar(6.0));
                        self.b.pop_scope_root();
                        let b = (lo?, hi?);
                        self.relu6 = Some(b);
                        b
                    }
                };
                self.b.op(OpType::Clip, name, &[x, lo, hi], vec![])
            }
            Act::Hswish => self.b.op(OpType::HardSwish, name, &[x], vec![]),
            Act::None => Ok(x),
            Act::Swish => {
                let s = self.b.op(OpType::Sigmoid, "swish_sigmoid", &[x], vec![])?;
                self.b.op(OpType::Mul, name, &[x, s], vec![])
            }
        }
    }

    /// Convolution, BatchNorm, activation under scope `scope` (`conv`, `bn`, `relu6`...).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn conv_bn_act(
        &mut self,
        scope: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
        group: usize,
        act: Option<Act>,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let cin = self.channels(x);
        let w = self.weight("conv.weight", &[cout, cin / group.max(1), k, k])?;
        let p = Conv2d { stride, pad: k / 2, dilation: 1, group };
        let c = self.b.conv("conv", x, w, None, p)?;
        let mut out = self.bn("bn", c)?;
        if let Some(a) = act {
            out = self.act(a, out)?;
        }
        self.b.pop_scope();
        Ok(out)
    }

    pub(super) fn relu_conv_bn(
        &mut self,
        scope: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let r = self.b.relu("relu", x)?;
        let c = self.conv("conv", r, cout, k, stride, dilation)?;
        let out = self.bn("bn", c)?;
        self.b.pop_scope();
        Ok(out)
    }

    fn zeros_like(&mut self, x: ValueId, name: &str) -> Result<ValueId> {
        let zero = self.b.param(&format!("{name}/scalar"), Tensor::f32_scalar(0.0))?;
        self.b.op(OpType::Mul, name, &[x, zero], vec![])
    }

    fn edge(
        &mut self,
        space: &SearchSpace,
        op: usize,
        scope: &str,
        x: ValueId,
    ) -> Result<Option<ValueId>> {
        let c = self.channels(x);
        Ok(Some(match space.op(op) {
            op @ (OpSpec::ConvBnAct { .. }
            | OpSpec::DwConvBnAct { .. }
            | OpSpec::InvertedResidual { .. }
            | OpSpec::SepConv { .. }
            | OpSpec::DilConv { .. }) => self.block(op, &[], scope, x, c, 1)?,
            OpSpec::Zero => return Ok(None),
            OpSpec::Identity | OpSpec::Skip => x,
            OpSpec::ReluConvBn { kernel, dilation } => {
                self.relu_conv_bn(scope, x, c, *kernel, 1, *dilation)?
            }
            OpSpec::AvgPool { kernel, count_include_pad } => {
                let p = Pool2d {
                    kernel: *kernel,
                    stride: 1,
                    pad: kernel / 2,
                    count_include_pad: *count_include_pad,
                };
                self.b.pool(OpType::AveragePool, &format!("{scope}/avgpool"), x, p)?
            }
            OpSpec::MaxPool { kernel } => self.b.pool(
                OpType::MaxPool,
                &format!("{scope}/maxpool"),
                x,
                Pool2d::new(*kernel, 1, kernel / 2),
            )?,
        }))
    }

    fn cell(
        &mut self,
        space: &SearchSpace,
        arch: &CellArch,
        scope: &str,
        x: ValueId,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let n = space.cell_nodes();
        let mut nodes: Vec<Option<ValueId>> = vec![Some(x)];
        for i in 1..n {
            let mut terms = Vec::new();
            for (j, &op) in arch.edges[i - 1].iter().enumerate() {
                if space.is_zero(op) {
                    continue;
                }
                // A node no edge feeds is zero; it still feeds its out-edges (as in
                // NAS-Bench-201, whose parameter count includes their convolutions).
                let src = match nodes[j] {
                    Some(v) => v,
                    None => {
                        let z = self.zeros_like(x, &format!("node{j}_zero"))?;
                        nodes[j] = Some(z);
                        z
                    }
                };
                if let Some(t) = self.edge(space, op, &format!("edge_{i}_{j}"), src)? {
                    terms.push(t);
                }
            }
            let mut acc = None;
            for (k, t) in terms.into_iter().enumerate() {
                acc = Some(match acc {
                    None => t,
                    Some(a) => self.b.add(&format!("node{i}_sum{k}"), a, t)?,
                });
            }
            nodes.push(acc);
        }
        let out = match nodes[n - 1] {
            Some(v) => v,
            None => self.zeros_like(x, &format!("node{}_zero", n - 1))?,
        };
        self.b.pop_scope();
        Ok(out)
    }

    fn reduction(
        &mut self,
        kind: ReductionSpec,
        scope: &str,
        x: ValueId,
        cout: usize,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let out = match kind {
            ReductionSpec::MaxPool => {
                self.b.pool(OpType::MaxPool, "maxpool", x, Pool2d::new(2, 2, 0))?
            }
            ReductionSpec::Cell => {
                return Err(crate::error::Error::Spec(format!(
                    "{scope}: a reduction cell belongs to a two-input cell space"
                )));
            }
            ReductionSpec::ResnetBasic => {
                let a = self.relu_conv_bn("conv_a", x, cout, 3, 2, 1)?;
                let bb = self.relu_conv_bn("conv_b", a, cout, 3, 1, 1)?;
                let pooled = self.b.pool(
                    OpType::AveragePool,
                    "shortcut/avgpool",
                    x,
                    Pool2d::new(2, 2, 0),
                )?;
                let sc = self.conv("shortcut/conv", pooled, cout, 1, 1, 1)?;
                self.b.add("add", sc, bb)?
            }
        };
        self.b.pop_scope();
        Ok(out)
    }
}

/// A lowered architecture with the tensors that InTrain counts as its layers.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The network.
    pub graph: Graph,
    /// Names of the stem, reduction-block and cell outputs (cell spaces; a parameter-free
    /// max-pool reduction is not a layer) or of the stem and block outputs (chain spaces), in
    /// order. A cell or block that passes its input through unchanged repeats the previous name:
    /// it is a layer of its own.
    pub layers: Vec<String>,
}

impl SearchSpace {
    /// Checks that the reductions of a cell space halve `res` exactly (a stride-2 reduction of an
    /// odd size would misalign its branches).
    fn check_resolution(&self, res: usize) -> Result<()> {
        let stride = match self.spec.stem {
            StemSpec::ConvBn { .. } => 1,
            StemSpec::ConvBnAct { stride, .. } => stride,
        };
        let reductions = self.spec.stages.iter().filter(|st| st.reduction.is_some()).count();
        let mut r = super::strided(res, stride);
        for (k, st) in self.spec.stages.iter().enumerate() {
            if st.reduction.is_some() {
                if !r.is_multiple_of(2) {
                    let multiple = stride.saturating_mul(1 << reductions.min(32));
                    return Err(crate::error::Error::Settings(format!(
                        "resolution {res}: the reduction of stages[{k}] would halve {r}; '{}' needs a resolution its reductions halve exactly (a multiple of {multiple})",
                        self.spec.name
                    )));
                }
                r /= 2;
            }
        }
        Ok(())
    }

    /// The network of `arch`: input `x` `(batch, channels, resolution, resolution)`, output `logits`.
    pub fn lower(&self, arch: &Arch, opts: &LowerOptions) -> Result<Graph> {
        Ok(self.lower_with_layers(arch, opts)?.graph)
    }

    /// Like [`SearchSpace::lower`], also naming the stem, reduction, cell and block outputs (the
    /// paper's layers for gamma). Fails if `arch` is not an architecture of the space.
    pub fn lower_with_layers(&self, arch: &Arch, opts: &LowerOptions) -> Result<Lowered> {
        let spec = &self.spec;
        let res = opts.resolution.unwrap_or(spec.input.resolution);
        let mut l = Lowering {
            b: GraphBuilder::new(spec.name.clone()),
            layers: Vec::new(),
            init: opts.seed.map(Init::new),
            opts,
            relu6: None,
            limits: Limits::current(),
            weight_bytes: 0,
        };
        arch.check(self)?;
        self.check_resolution(res)?;
        let x = l.b.input("x", TensorType::f32([opts.batch, spec.input.channels, res, res]))?;
        let mut h = match spec.stem {
            StemSpec::ConvBn { kernel, channels } => {
                l.conv_bn_act("stem", x, channels, kernel, 1, 1, None)?
            }
            StemSpec::ConvBnAct { kernel, stride, channels, act } => {
                l.conv_bn_act("stem", x, channels, kernel, stride, 1, Some(act))?
            }
        };
        l.layers.push(h);
        match arch {
            Arch::Chain(chain) => h = l.chain(self, chain, h)?,
            Arch::Genotype(g) => h = l.two_input_stages(self, g, h)?,
            Arch::Cell(_) | Arch::NodeCell(_) => {
                // The network is built from the pruned cell, as NAS-Bench-101 builds it.
                let pruned = match arch {
                    Arch::NodeCell(c) => c.pruned(),
                    _ => None,
                };
                let mut reductions = 0;
                for (k, st) in spec.stages.iter().enumerate() {
                    if let Some(r) = st.reduction {
                        reductions += 1;
                        h = l.reduction(r, &format!("reduction{reductions}"), h, st.channels)?;
                        // A parameter-free max pool is not a layer of its own.
                        if r != ReductionSpec::MaxPool {
                            l.layers.push(h);
                        }
                    }
                    for c in 0..st.cells {
                        let scope = format!("stage{}/cell{c}", k + 1);
                        h = match (arch, &pruned) {
                            (Arch::NodeCell(_), Some(p)) => {
                                l.node_cell(self, p, &scope, h, st.channels)?
                            }
                            (Arch::Cell(cell), _) => l.cell(self, cell, &scope, h)?,
                            _ => {
                                return Err(crate::error::Error::ArchString(
                                    "the cell's input does not reach its output".into(),
                                ));
                            }
                        };
                        l.layers.push(h);
                    }
                }
            }
        }
        l.b.push_scope("head");
        let pre = match spec.head {
            HeadSpec::BnReluGapLinear => {
                let bn = l.bn("bn", h)?;
                l.b.relu("relu", bn)?
            }
            HeadSpec::GapLinear => h,
            HeadSpec::ConvBnActGapLinear { channels, act, .. } => {
                l.b.pop_scope();
                let y = l.conv_bn_act("head", h, channels, 1, 1, 1, Some(act))?;
                l.b.push_scope("head");
                y
            }
        };
        let gap = l.b.global_avg_pool("gap", pre)?;
        let mut flat = l.b.flatten("flatten", gap, 1)?;
        if let HeadSpec::ConvBnActGapLinear { act, hidden: Some(n), .. } = spec.head {
            let c = l.channels(flat);
            let w = l.weight("hidden.weight", &[n, c])?;
            let bias = l.filled("hidden.bias", n, 0.0)?;
            let y = l.b.gemm("hidden", flat, w, Some(bias), true)?;
            flat = l.act(act, y)?;
        }
        let c = l.channels(flat);
        let classes = spec.input.classes;
        let w = l.weight("fc.weight", &[classes, c])?;
        let bias = l.filled("fc.bias", classes, 0.0)?;
        l.b.pop_scope();
        let logits = l.b.gemm("logits", flat, w, Some(bias), true)?;
        l.b.output(logits);
        let graph = l.b.finish();
        l.limits.check_graph(&graph)?;
        let layers = l.layers.iter().map(|&v| graph.value(v).name.clone()).collect();
        Ok(Lowered { graph, layers })
    }
}
