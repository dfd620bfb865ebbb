//! ONNX model → IR.
//!
//! Reads opsets 7 to 26 of the default domain (those ONNX Runtime 1.31 runs; nodes keep their
//! opset's form, e.g. Squeeze axes as an attribute before 13), with external data next to the model. Dynamic
//! input dimensions must be given values ([`ImportOptions`]); everything downstream then has a
//! static shape. Exporters' quirks handled here: unnamed nodes get a name, initializers listed
//! as graph inputs (IR < 4) are treated as initializers, omitted optional outputs are named.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use prost::Message;

use super::convert::{attr_from_proto, claimed_bytes, tensor_from_proto};
use super::pb;
use super::sequences;
use crate::error::{Error, Result};
use crate::ir::{Attr, DType, Graph, MAX_OPSET, MIN_OPSET, OpType, TensorType, ValueId};
use crate::limits::Limits;

/// How to resolve what the model leaves open.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Values of named symbolic dimensions (`batch=64`).
    pub dims: BTreeMap<String, usize>,
    /// Full shapes for named inputs, overriding the model's.
    pub input_shapes: BTreeMap<String, Vec<usize>>,
    /// Value for a dynamic first axis (the batch) of any input, when not named in `dims`.
    pub batch: Option<usize>,
}

/// A model read from ONNX: its graph plus metadata worth reporting.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    /// The graph with static shapes.
    pub graph: Graph,
    /// `ir_version` of the file.
    pub ir_version: i64,
    /// Producer name and version, as written by the exporter.
    pub producer: String,
    /// Dimension values that were substituted for symbolic input dimensions.
    pub resolved_dims: BTreeMap<String, usize>,
    /// Whether [`ImportOptions::batch`] was used for some input's dynamic first axis.
    pub batch_applied: bool,
    /// The model's `metadata_props` (key → value).
    pub metadata: BTreeMap<String, String>,
}

/// Reads an `.onnx` file. Errors carry the file's path.
pub fn load_model(path: &Path, opts: &ImportOptions) -> Result<ImportedModel> {
    let wrap = |e: Error| e.in_file(path);
    let meta =
        std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if meta.is_dir() {
        return Err(wrap(Error::InvalidModel("is a directory, not an .onnx file".into())));
    }
    let bytes = crate::limits::read_file(path)?;
    let base = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    model_from_bytes(&bytes, base, opts).map_err(wrap)
}

/// Reads a model from bytes; `base_dir` resolves external data files.
pub fn model_from_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<ImportedModel> {
    if bytes.is_empty() {
        return Err(Error::Decode("the file is empty (0 bytes)".into()));
    }
    let model = pb::ModelProto::decode(bytes)
        .map_err(|e| Error::Decode(format!("protobuf decoding failed ({e})")))?;
    let graph_proto = model.graph.as_ref().ok_or_else(|| {
        Error::Decode("the protobuf has no graph (is this an ONNX model?)".into())
    })?;
    let ir_version = model.ir_version.unwrap_or(0);
    if ir_version < 3 {
        return Err(Error::Decode(format!(
            "ir_version {ir_version} is missing or too old (is this an ONNX model?)"
        )));
    }
    let opset = default_opset(&model)?;
    let limits = Limits::current();
    limits.check_nodes(graph_proto.node.len())?;
    let mut importer = Importer {
        graph: Graph::new(graph_proto.name.clone().unwrap_or_default(), opset)?,
        resolved: BTreeMap::new(),
        batch_applied: false,
        sequences: HashMap::new(),
    };
    importer.read_graph(graph_proto, base_dir, opts)?;
    importer.graph = crate::ir::passes::bypass_initializer_clones(&importer.graph)?;
    importer.graph = crate::ir::passes::unshare_deduplicated_constants(&importer.graph)?;
    limits.check_graph(&importer.graph)?;
    let producer = format!(
        "{} {}",
        model.producer_name.as_deref().unwrap_or("unknown"),
        model.producer_version.as_deref().unwrap_or("")
    )
    .trim()
    .to_string();
    Ok(ImportedModel {
        graph: importer.graph,
        ir_version,
        producer,
        resolved_dims: importer.resolved,
        batch_applied: importer.batch_applied,
        metadata: model
            .metadata_props
            .iter()
            .filter_map(|e| Some((e.key.clone()?, e.value.clone().unwrap_or_default())))
            .collect(),
    })
}

fn default_opset(model: &pb::ModelProto) -> Result<i64> {
    let mut opset = None;
    for o in &model.opset_import {
        let domain = o.domain.as_deref().unwrap_or("");
        if domain.is_empty() || domain == "ai.onnx" {
            opset = o.version;
        }
    }
    let found =
        opset.ok_or_else(|| Error::Decode("no opset_import for the default ONNX domain".into()))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&found) {
        return Err(Error::Opset {
            domain: "ai.onnx".into(),
            found,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    Ok(found)
}

struct Importer {
    graph: Graph,
    resolved: BTreeMap<String, usize>,
    batch_applied: bool,
    /// `SplitToSequence` outputs read so far, by name (see [`super::sequences`]).
    sequences: HashMap<String, sequences::PendingSplit>,
}

impl Importer {
    fn read_graph(
        &mut self,
        g: &pb::GraphProto,
        base_dir: Option<&Path>,
        opts: &ImportOptions,
    ) -> Result<()> {
        if let Some(s) = g.sparse_initializer.first() {
            let name = s.values.as_ref().and_then(|v| v.name.clone()).unwrap_or_default();
            return Err(Error::InvalidModel(format!(
                "sparse initializer '{name}' is not supported"
            )));
        }
        for name in opts.input_shapes.keys() {
            if !g.input.iter().any(|i| i.name.as_deref() == Some(name)) {
                return Err(Error::Input(format!(
                    "an input shape is given for '{name}', which is not an input of the model"
                )));
            }
        }
        let mut init_names = HashSet::new();
        let limits = Limits::current();
        let mut weight_bytes = 0u64;
        for t in &g.initializer {
            let name = t.name.clone().unwrap_or_default();
            weight_bytes = weight_bytes.saturating_add(claimed_bytes(t));
            limits.check_weights(|| format!("tensor '{name}'"), weight_bytes)?;
            let tensor = tensor_from_proto(t, base_dir)?;
            self.graph.add_initializer(name.clone(), tensor)?;
            init_names.insert(name);
        }
        for (k, input) in g.input.iter().enumerate() {
            let name = input.name.clone().unwrap_or_default();
            if init_names.contains(&name) {
                continue; // IR < 4 lists initializers among the inputs
            }
            let ty = self.input_type(input, k, opts)?;
            self.graph.add_input(name, ty)?;
        }
        for name in opts.input_shapes.keys() {
            if !g.input.iter().any(|i| i.name.as_deref() == Some(name)) {
                return Err(Error::Input(format!(
                    "an input shape is given for '{name}', which is not an input of the model"
                )));
            }
        }
        self.read_nodes(&g.node)?;
        for out in &g.output {
            let name = out.name.clone().unwrap_or_default();
            let id = self.graph.find(&name).ok_or_else(|| {
                Error::InvalidModel(format!("graph output '{name}' is not produced by any node"))
            })?;
            self.check_declared(out, id)?;
            self.graph.add_output(id);
        }
        Ok(())
    }

    fn input_type(
        &mut self,
        vi: &pb::ValueInfoProto,
        _index: usize,
        opts: &ImportOptions,
    ) -> Result<TensorType> {
        let name = vi.name.clone().unwrap_or_default();
        let Some(pb::type_proto::Value::TensorType(tt)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(Error::InvalidModel(format!(
                "input '{name}' is not a tensor (sequences, maps and optionals are not supported)"
            )));
        };
        let code = tt.elem_type.unwrap_or(0);
        let dtype = DType::from_onnx_code(code).ok_or_else(|| Error::UnsupportedDType {
            what: format!("input '{name}'"),
            dtype: DType::onnx_code_name(code).into(),
        })?;
        if let Some(shape) = opts.input_shapes.get(&name) {
            return Ok(TensorType::new(dtype, shape.clone()));
        }
        let dims =
            tt.shape.as_ref().ok_or_else(|| Error::NoInputShape { input: name.to_string() })?;
        let mut shape = Vec::with_capacity(dims.dim.len());
        for (axis, d) in dims.dim.iter().enumerate() {
            use pb::tensor_shape_proto::dimension::Value as V;
            let v = match &d.value {
                Some(V::DimValue(v)) if *v >= 0 => *v as usize,
                Some(V::DimValue(v)) => {
                    return Err(Error::InvalidModel(format!(
                        "input '{name}' has negative dimension {v}"
                    )));
                }
                Some(V::DimParam(p)) => {
                    let named = opts.dims.get(p).copied();
                    let batch = if axis == 0 { opts.batch } else { None };
                    match named.or(batch) {
                        Some(v) => {
                            self.batch_applied |= named.is_none();
                            self.resolved.insert(p.clone(), v);
                            v
                        }
                        None => {
                            return Err(Error::DynamicDim { input: name, dim: p.clone(), axis });
                        }
                    }
                }
                None => match (axis, opts.batch) {
                    (0, Some(b)) => {
                        self.batch_applied = true;
                        self.resolved.insert(format!("{name}[0]"), b);
                        b
                    }
                    _ => return Err(Error::DynamicDim { input: name, dim: "?".into(), axis }),
                },
            };
            shape.push(v);
        }
        Ok(TensorType::new(dtype, shape))
    }

    /// Adds nodes in a topological order (the file's, when it is one): the order of repeated
    /// passes over the file, each adding the nodes whose inputs exist by then, computed in time
    /// linear in the graph (a hostile file in reverse order costs one pass, not one per node).
    fn read_nodes(&mut self, nodes: &[pb::NodeProto]) -> Result<()> {
        let names = node_names(nodes);
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                producer.entry(o.as_str()).or_insert(i);
            }
        }
        // Per node, the distinct producing nodes it waits for; a missing input never resolves.
        let mut waiting = vec![0usize; nodes.len()];
        let mut unresolvable = vec![false; nodes.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            let mut deps: Vec<usize> = Vec::new();
            for input in n.input.iter().filter(|x| !x.is_empty()) {
                if self.graph.find(input).is_some() {
                    continue;
                }
                match producer.get(input.as_str()) {
                    Some(&p) => deps.push(p),
                    None => unresolvable[i] = true,
                }
            }
            deps.sort_unstable();
            deps.dedup();
            waiting[i] = deps.len();
            for p in deps {
                dependents[p].push(i);
            }
        }
        // Kahn's order, then each node's pass: a node is added in the pass after a producer
        // that comes later in the file, in the same pass as one that comes earlier.
        let mut ready: std::collections::VecDeque<usize> =
            (0..nodes.len()).filter(|&i| waiting[i] == 0 && !unresolvable[i]).collect();
        let mut pass = vec![0usize; nodes.len()];
        let mut resolved = vec![false; nodes.len()];
        while let Some(p) = ready.pop_front() {
            resolved[p] = true;
            for &d in &dependents[p] {
                pass[d] = pass[d].max(if p < d { pass[p] } else { pass[p] + 1 });
                waiting[d] -= 1;
                if waiting[d] == 0 && !unresolvable[d] {
                    ready.push_back(d);
                }
            }
        }
        let mut order: Vec<usize> = (0..nodes.len()).filter(|&i| resolved[i]).collect();
        order.sort_by_key(|&i| (pass[i], i));
        for &i in &order {
            self.add_node(&nodes[i], &names[i])?;
        }
        if let Some(i) = (0..nodes.len()).find(|&i| !resolved[i]) {
            let missing = nodes[i]
                .input
                .iter()
                .find(|n| !n.is_empty() && self.graph.find(n).is_none())
                .cloned()
                .unwrap_or_default();
            let produced = nodes.iter().any(|n| n.output.contains(&missing));
            let why = if produced {
                "is part of a cycle"
            } else {
                "is not produced by any node, input or initializer"
            };
            return Err(Error::node(
                &names[i],
                nodes[i].op_type.as_deref().unwrap_or("?"),
                format!("input '{missing}' {why}"),
            ));
        }
        Ok(())
    }

    fn add_node(&mut self, n: &pb::NodeProto, name: &str) -> Result<()> {
        let op_name = n.op_type.clone().unwrap_or_default();
        let domain = n.domain.clone().unwrap_or_default();
        let inputs: Vec<Option<ValueId>> =
            n.input.iter().map(|i| if i.is_empty() { None } else { self.graph.find(i) }).collect();
        if matches!(domain.as_str(), "" | "ai.onnx")
            && self.read_sequence_op(n, name, &op_name, &inputs)?
        {
            return Ok(());
        }
        let op = match (domain.as_str(), OpType::from_name(&op_name)) {
            ("" | "ai.onnx", Some(op)) => op,
            _ => return Err(Error::UnsupportedOp { node: name.to_string(), op: op_name, domain }),
        };
        let attrs = attrs_from_node(n, name, &op_name)?;
        // Trailing omitted outputs are dropped; omitted ones in the middle get a private name.
        let last = n.output.iter().rposition(|o| !o.is_empty()).map_or(0, |p| p + 1);
        let outputs: Vec<String> = n.output[..last]
            .iter()
            .enumerate()
            .map(|(k, o)| {
                if o.is_empty() {
                    self.graph.fresh_name(&format!("{name}:unused{k}"))
                } else {
                    o.clone()
                }
            })
            .collect();
        self.graph.add_node(name, op, &inputs, attrs, &outputs)?;
        Ok(())
    }

    /// `SplitToSequence` and its readers (see [`super::sequences`]); true when `n` was one.
    fn read_sequence_op(
        &mut self,
        n: &pb::NodeProto,
        name: &str,
        op: &str,
        inputs: &[Option<ValueId>],
    ) -> Result<bool> {
        match op {
            "SplitToSequence" => {
                let attrs = attrs_from_node(n, name, op)?;
                let split = sequences::split_to_sequence(&self.graph, name, inputs, &attrs)?;
                let out = n.output.first().cloned().unwrap_or_default();
                self.sequences.insert(out, split);
                Ok(true)
            }
            "SequenceAt" if n.input.first().is_some_and(|s| self.sequences.contains_key(s)) => {
                let split = &self.sequences[&n.input[0]];
                let output = n.output.first().cloned().unwrap_or_default();
                let position = inputs.get(1).copied().flatten();
                sequences::sequence_at(&mut self.graph, split, name, position, &output)?;
                Ok(true)
            }
            _ => match n.input.iter().find_map(|i| self.sequences.get(i)) {
                Some(split) => Err(sequences::unsupported_reader(split, name, op)),
                None => Ok(false),
            },
        }
    }

    /// Checks a declared static output shape against ours.
    fn check_declared(&self, vi: &pb::ValueInfoProto, id: ValueId) -> Result<()> {
        let Some(pb::type_proto::Value::TensorType(tt)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Ok(());
        };
        let ours = &self.graph.value(id).ty;
        if let Some(code) = tt.elem_type
            && code != 0
            && DType::from_onnx_code(code) != Some(ours.dtype)
        {
            return Err(Error::InvalidModel(format!(
                "output '{}' is declared {} but computes {}",
                ours_name(vi),
                DType::onnx_code_name(code),
                ours.dtype
            )));
        }
        if let Some(shape) = &tt.shape {
            use pb::tensor_shape_proto::dimension::Value as V;
            let declared: Vec<Option<i64>> = shape
                .dim
                .iter()
                .map(|d| if let Some(V::DimValue(v)) = d.value { Some(v) } else { None })
                .collect();
            let fits = declared.len() == ours.rank()
                && declared
                    .iter()
                    .zip(&ours.shape)
                    .all(|(d, &o)| d.is_none_or(|d| d as usize == o));
            if !fits {
                return Err(Error::InvalidModel(format!(
                    "output '{}' is declared with shape {declared:?} but computes {:?}",
                    ours_name(vi),
                    ours.shape
                )));
            }
        }
        Ok(())
    }
}

fn ours_name(vi: &pb::ValueInfoProto) -> &str {
    vi.name.as_deref().unwrap_or("")
}

/// Unique node names: the file's, or `<op_type>_<index>` for unnamed nodes.
fn node_names(nodes: &[pb::NodeProto]) -> Vec<String> {
    let mut seen = HashMap::new();
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let base = match n.name.as_deref() {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => format!("{}_{i}", n.op_type.as_deref().unwrap_or("node")),
            };
            let count = seen.entry(base.clone()).or_insert(0usize);
            *count += 1;
            if *count == 1 { base } else { format!("{base}_{}", *count - 1) }
        })
        .collect()
}

/// A node's attributes, each checked as [`attr_from_proto`] does.
fn attrs_from_node(n: &pb::NodeProto, name: &str, op: &str) -> Result<BTreeMap<String, Attr>> {
    let mut attrs = BTreeMap::new();
    for a in &n.attribute {
        let (k, v) = attr_from_proto(a, name, op)?;
        attrs.insert(k, v);
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relu(name: &str, input: &str, output: &str) -> pb::NodeProto {
        pb::NodeProto {
            name: Some(name.into()),
            op_type: Some("Relu".into()),
            input: vec![input.into()],
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A model of `nodes` on input `x` (2×3 floats) with output `out`.
    fn model(nodes: Vec<pb::NodeProto>, out: &str) -> Vec<u8> {
        let value = |name: &str| pb::ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: Some(1),
                    shape: Some(pb::TensorShapeProto {
                        dim: [2, 3]
                            .iter()
                            .map(|&d| pb::tensor_shape_proto::Dimension {
                                value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        pb::ModelProto {
            ir_version: Some(8),
            opset_import: vec![pb::OperatorSetIdProto { domain: None, version: Some(17) }],
            graph: Some(pb::GraphProto {
                node: nodes,
                input: vec![value("x")],
                output: vec![value(out)],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn order(bytes: &[u8]) -> Vec<String> {
        let m = model_from_bytes(bytes, None, &ImportOptions::default()).expect("import");
        m.graph.nodes().iter().map(|n| n.name.clone()).collect()
    }

    #[test]
    fn nodes_out_of_order_come_in_the_order_of_passes_over_the_file() {
        // Pass 1 adds a, b (after a) and d; pass 2 adds c, which waits for b further down.
        let nodes = vec![
            relu("c", "b", "out"),
            relu("a", "x", "a"),
            relu("b", "a", "b"),
            relu("d", "x", "d"),
        ];
        assert_eq!(order(&model(nodes, "out")), ["a", "b", "d", "c"]);
    }

    #[test]
    fn a_chain_in_reverse_order_imports_in_chain_order() {
        // One pass per node before; now linear, so a long chain is quick too.
        let n = 20_000;
        let nodes: Vec<pb::NodeProto> = (0..n)
            .rev()
            .map(|i| {
                let input = if i == 0 { "x".to_string() } else { format!("v{}", i - 1) };
                relu(&format!("n{i}"), &input, &format!("v{i}"))
            })
            .collect();
        let names = order(&model(nodes, &format!("v{}", n - 1)));
        assert_eq!(names.len(), n);
        assert!(names.iter().enumerate().all(|(i, name)| *name == format!("n{i}")));
    }

    #[test]
    fn a_cycle_and_a_dangling_input_are_named() {
        let cycle = vec![relu("p", "q_out", "p_out"), relu("q", "p_out", "q_out")];
        let e = model_from_bytes(&model(cycle, "q_out"), None, &ImportOptions::default());
        let e = e.expect_err("cycle").to_string();
        assert!(e.contains("'p'") && e.contains("part of a cycle"), "{e}");
        let dangling = vec![relu("p", "x", "p_out"), relu("q", "nowhere", "q_out")];
        let e = model_from_bytes(&model(dangling, "q_out"), None, &ImportOptions::default());
        let e = e.expect_err("dangling").to_string();
        assert!(e.contains("'nowhere' is not produced"), "{e}");
    }
}
