//! intrain's own graph representation, independent of protobuf and of ONNX Runtime.
//!
//! - [`dtype`]: element types and static tensor types;
//! - [`tensor`]: constant tensors (initializers, folded values);
//! - [`attr`]: node attributes and [`NodeAttrs`], their typed accessors;
//! - [`op`]: the supported operators;
//! - [`graph`]: the graph, built node by node with shapes inferred on the way;
//! - [`infer`]: shape inference and constant evaluation, one file per op family;
//! - [`cost`]: parameters, MACs and FLOPs;
//! - [`memory`]: the memory one run needs, estimated from the static shapes;
//! - [`nd_index`]: the positions GatherND and ScatterND address;
//! - [`builder`]: a convenience layer to build networks in Rust;
//! - [`split`]: a graph cut into a part run once and a part run per change of some inputs.

pub mod attr;
pub mod builder;
pub mod cost;
pub mod dtype;
pub mod graph;
pub mod infer;
pub mod layout;
pub mod memory;
pub mod nd_index;
pub mod op;
pub mod passes;
pub mod split;
pub mod tensor;

pub use attr::{Attr, NodeAttrs};
pub use builder::GraphBuilder;
pub use dtype::{DType, TensorType};
pub use graph::{
    BUILD_OPSET, Graph, MAX_OPSET, MIN_OPSET, Node, NodeId, Value, ValueId, ValueSource,
};
pub use op::OpType;
pub use tensor::{Tensor, TensorData};
