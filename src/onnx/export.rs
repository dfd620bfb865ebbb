//! IR → ONNX model bytes.
//!
//! Writes IR version 10 (or the first IR version of the graph's opset, for opsets 23 to 26), the
//! graph's opset for the default domain, initializers as raw
//! little-endian data, and static shapes on every input, output and intermediate value (so
//! Netron shows them and `onnx.checker.check_model(full_check=True)` accepts the file).

use std::path::Path;

use prost::Message;

use super::convert::{attr_to_proto, tensor_to_proto};
use super::pb;
use crate::error::{Error, Result};
use crate::ir::{Graph, TensorType, ValueSource};

/// The IR version written for opsets up to 22.
pub const IR_VERSION: i64 = 10;

/// The IR version written for a graph of `opset`: [`IR_VERSION`], or the IR version the ONNX
/// release that introduced the opset writes (23: 11, 24: 12, 25 and 26: 13), which ONNX's checker
/// requires.
pub fn ir_version_for(opset: i64) -> i64 {
    match opset {
        ..=22 => IR_VERSION,
        23 => 11,
        24 => 12,
        _ => 13,
    }
}

fn value_info(name: &str, ty: &TensorType) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as V};
    pb::ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(pb::TypeProto {
            denotation: None,
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(ty.dtype.onnx_code()),
                shape: Some(pb::TensorShapeProto {
                    dim: ty
                        .shape
                        .iter()
                        .map(|&d| Dimension {
                            denotation: None,
                            value: Some(V::DimValue(d as i64)),
                        })
                        .collect(),
                }),
            })),
        }),
        ..Default::default()
    }
}

/// The graph as a `ModelProto`.
pub fn to_model_proto(graph: &Graph) -> pb::ModelProto {
    let values = graph.values();
    let nodes = graph
        .nodes()
        .iter()
        .map(|n| pb::NodeProto {
            name: Some(n.name.clone()),
            op_type: Some(n.op.name().to_string()),
            domain: Some(String::new()),
            input: n
                .inputs
                .iter()
                .map(|i| i.map(|v| values[v.0].name.clone()).unwrap_or_default())
                .collect(),
            output: n.outputs.iter().map(|v| values[v.0].name.clone()).collect(),
            attribute: n.attrs.iter().map(|(k, a)| attr_to_proto(k, a)).collect(),
            ..Default::default()
        })
        .collect();
    let outputs: Vec<_> = graph.outputs().to_vec();
    let intermediates: Vec<_> = values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            matches!(v.source, ValueSource::Node { .. }) && !outputs.iter().any(|o| o.0 == *i)
        })
        .map(|(_, v)| value_info(&v.name, &v.ty))
        .collect();
    let g = pb::GraphProto {
        name: Some(if graph.name.is_empty() { "intrain".to_string() } else { graph.name.clone() }),
        node: nodes,
        initializer: graph
            .initializers()
            .map(|(_, v)| tensor_to_proto(&v.name, v.data.as_ref().expect("initializer data")))
            .collect(),
        input: graph
            .inputs()
            .iter()
            .map(|&i| value_info(&values[i.0].name, &values[i.0].ty))
            .collect(),
        output: outputs.iter().map(|&o| value_info(&values[o.0].name, &values[o.0].ty)).collect(),
        value_info: intermediates,
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: Some(ir_version_for(graph.opset)),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(graph.opset),
        }],
        producer_name: Some("intrain".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(g),
        ..Default::default()
    }
}

/// The graph as ONNX bytes.
pub fn to_bytes(graph: &Graph) -> Vec<u8> {
    to_model_proto(graph).encode_to_vec()
}

/// Writes the graph to an `.onnx` file.
pub fn save(graph: &Graph, path: &Path) -> Result<()> {
    save_with_metadata(graph, path, &std::collections::BTreeMap::new())
}

/// Writes the graph to an `.onnx` file with `metadata_props` (key → value).
pub fn save_with_metadata(
    graph: &Graph,
    path: &Path,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let mut m = to_model_proto(graph);
    m.metadata_props = metadata
        .iter()
        .map(|(k, v)| pb::StringStringEntryProto { key: Some(k.clone()), value: Some(v.clone()) })
        .collect();
    std::fs::write(path, m.encode_to_vec())
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })
}
