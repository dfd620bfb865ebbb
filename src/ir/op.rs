//! The operators the IR knows: their ONNX names and what attributes and inputs they accept.
//!
//! One closed enum keeps every `match` exhaustive: adding an op makes the compiler list every
//! place (shape inference, cost, export, differentiation) that must learn about it.

use std::fmt;

macro_rules! ops {
    ($( $variant:ident => $name:literal, attrs: [$($attr:literal),*], inputs: $min:literal ..= $max:expr; )*) => {
        /// An ONNX operator of the default domain that intrain supports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpType {
            $(
                #[doc = concat!("ONNX `", $name, "`.")]
                $variant,
            )*
        }

        impl OpType {
            /// Every supported op, in declaration order.
            pub const ALL: &'static [OpType] = &[$(OpType::$variant),*];

            /// The ONNX `op_type` string.
            pub fn name(self) -> &'static str {
                match self { $(OpType::$variant => $name,)* }
            }

            /// The op for an ONNX `op_type` string of the default domain.
            pub fn from_name(name: &str) -> Option<OpType> {
                match name { $($name => Some(OpType::$variant),)* _ => None }
            }

            /// Attribute names this op accepts in some opset we read (see [`OpType::attr_opsets`]).
            pub fn allowed_attrs(self) -> &'static [&'static str] {
                match self { $(OpType::$variant => &[$($attr),*],)* }
            }

            /// Minimum and maximum number of inputs over the opsets we read (optional trailing
            /// inputs included; [`OpType::input_arity_at`] gives them per opset).
            pub fn input_arity(self) -> (usize, usize) {
                match self { $(OpType::$variant => ($min, $max),)* }
            }
        }
    };
}

const MANY: usize = usize::MAX;

ops! {
    // elementwise unary
    Abs => "Abs", attrs: [], inputs: 1..=1;
    Ceil => "Ceil", attrs: [], inputs: 1..=1;
    Elu => "Elu", attrs: ["alpha"], inputs: 1..=1;
    Erf => "Erf", attrs: [], inputs: 1..=1;
    Exp => "Exp", attrs: [], inputs: 1..=1;
    Floor => "Floor", attrs: [], inputs: 1..=1;
    Gelu => "Gelu", attrs: ["approximate"], inputs: 1..=1;
    HardSigmoid => "HardSigmoid", attrs: ["alpha", "beta"], inputs: 1..=1;
    HardSwish => "HardSwish", attrs: [], inputs: 1..=1;
    Identity => "Identity", attrs: [], inputs: 1..=1;
    LeakyRelu => "LeakyRelu", attrs: ["alpha"], inputs: 1..=1;
    Log => "Log", attrs: [], inputs: 1..=1;
    Neg => "Neg", attrs: [], inputs: 1..=1;
    Not => "Not", attrs: [], inputs: 1..=1;
    Reciprocal => "Reciprocal", attrs: [], inputs: 1..=1;
    Relu => "Relu", attrs: [], inputs: 1..=1;
    Sigmoid => "Sigmoid", attrs: [], inputs: 1..=1;
    Sign => "Sign", attrs: [], inputs: 1..=1;
    Softplus => "Softplus", attrs: [], inputs: 1..=1;
    Sqrt => "Sqrt", attrs: [], inputs: 1..=1;
    Tanh => "Tanh", attrs: [], inputs: 1..=1;
    Clip => "Clip", attrs: ["max", "min"], inputs: 1..=3;
    Cast => "Cast", attrs: ["to", "saturate", "round_mode"], inputs: 1..=1;
    CastLike => "CastLike", attrs: ["saturate", "round_mode"], inputs: 2..=2;
    Dropout => "Dropout", attrs: ["ratio", "seed"], inputs: 1..=3;
    // elementwise with broadcasting
    Add => "Add", attrs: [], inputs: 2..=2;
    Sub => "Sub", attrs: [], inputs: 2..=2;
    Mul => "Mul", attrs: [], inputs: 2..=2;
    Div => "Div", attrs: [], inputs: 2..=2;
    Pow => "Pow", attrs: [], inputs: 2..=2;
    Mod => "Mod", attrs: ["fmod"], inputs: 2..=2;
    Equal => "Equal", attrs: [], inputs: 2..=2;
    Greater => "Greater", attrs: [], inputs: 2..=2;
    GreaterOrEqual => "GreaterOrEqual", attrs: [], inputs: 2..=2;
    Less => "Less", attrs: [], inputs: 2..=2;
    LessOrEqual => "LessOrEqual", attrs: [], inputs: 2..=2;
    And => "And", attrs: [], inputs: 2..=2;
    Or => "Or", attrs: [], inputs: 2..=2;
    Where => "Where", attrs: [], inputs: 3..=3;
    Max => "Max", attrs: [], inputs: 1..=MANY;
    Min => "Min", attrs: [], inputs: 1..=MANY;
    Sum => "Sum", attrs: [], inputs: 1..=MANY;
    Mean => "Mean", attrs: [], inputs: 1..=MANY;
    // linear algebra and convolution
    Conv => "Conv", attrs: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"], inputs: 2..=3;
    ConvTranspose => "ConvTranspose", attrs: ["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"], inputs: 2..=3;
    Gemm => "Gemm", attrs: ["alpha", "beta", "transA", "transB"], inputs: 2..=3;
    MatMul => "MatMul", attrs: [], inputs: 2..=2;
    Einsum => "Einsum", attrs: ["equation"], inputs: 1..=MANY;
    // normalisation
    BatchNormalization => "BatchNormalization", attrs: ["epsilon", "momentum", "spatial", "training_mode"], inputs: 5..=5;
    LayerNormalization => "LayerNormalization", attrs: ["axis", "epsilon", "stash_type"], inputs: 2..=3;
    InstanceNormalization => "InstanceNormalization", attrs: ["epsilon"], inputs: 3..=3;
    Softmax => "Softmax", attrs: ["axis"], inputs: 1..=1;
    LogSoftmax => "LogSoftmax", attrs: ["axis"], inputs: 1..=1;
    // pooling
    AveragePool => "AveragePool", attrs: ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"], inputs: 1..=1;
    MaxPool => "MaxPool", attrs: ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"], inputs: 1..=1;
    GlobalAveragePool => "GlobalAveragePool", attrs: [], inputs: 1..=1;
    GlobalMaxPool => "GlobalMaxPool", attrs: [], inputs: 1..=1;
    // reductions
    ReduceMean => "ReduceMean", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceSum => "ReduceSum", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceMax => "ReduceMax", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceMin => "ReduceMin", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceSumSquare => "ReduceSumSquare", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceL2 => "ReduceL2", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    // shape manipulation
    Concat => "Concat", attrs: ["axis"], inputs: 1..=MANY;
    Split => "Split", attrs: ["axis", "num_outputs", "split"], inputs: 1..=2;
    Slice => "Slice", attrs: ["axes", "ends", "starts"], inputs: 1..=5;
    Reshape => "Reshape", attrs: ["allowzero"], inputs: 2..=2;
    Flatten => "Flatten", attrs: ["axis"], inputs: 1..=1;
    Transpose => "Transpose", attrs: ["perm"], inputs: 1..=1;
    Squeeze => "Squeeze", attrs: ["axes"], inputs: 1..=2;
    Unsqueeze => "Unsqueeze", attrs: ["axes"], inputs: 1..=2;
    Pad => "Pad", attrs: ["mode", "pads", "value"], inputs: 1..=4;
    Expand => "Expand", attrs: [], inputs: 2..=2;
    Tile => "Tile", attrs: [], inputs: 2..=2;
    Gather => "Gather", attrs: ["axis"], inputs: 2..=2;
    GatherND => "GatherND", attrs: ["batch_dims"], inputs: 2..=2;
    ScatterND => "ScatterND", attrs: ["reduction"], inputs: 3..=3;
    // shape computation and constants
    Shape => "Shape", attrs: ["start", "end"], inputs: 1..=1;
    Size => "Size", attrs: [], inputs: 1..=1;
    Constant => "Constant", attrs: ["value", "value_float", "value_floats", "value_int", "value_ints"], inputs: 0..=0;
    ConstantOfShape => "ConstantOfShape", attrs: ["value"], inputs: 1..=1;
    Range => "Range", attrs: [], inputs: 3..=3;
}

impl OpType {
    /// Whether this op is elementwise with numpy broadcasting over all its inputs.
    pub fn is_broadcast_elementwise(self) -> bool {
        use OpType::*;
        matches!(
            self,
            Add | Sub
                | Mul
                | Div
                | Pow
                | Mod
                | Equal
                | Greater
                | GreaterOrEqual
                | Less
                | LessOrEqual
                | And
                | Or
                | Where
                | Max
                | Min
                | Sum
                | Mean
        )
    }

    /// Whether this op maps each element independently with one data input (shape-preserving).
    pub fn is_unary_elementwise(self) -> bool {
        use OpType::*;
        matches!(
            self,
            Abs | Ceil
                | Elu
                | Erf
                | Exp
                | Floor
                | Gelu
                | HardSigmoid
                | HardSwish
                | Identity
                | LeakyRelu
                | Log
                | Neg
                | Not
                | Reciprocal
                | Relu
                | Sigmoid
                | Sign
                | Softplus
                | Sqrt
                | Tanh
                | Clip
                | Dropout
        )
    }

    /// The opset that introduced this op (1 for the ops older than every opset we read).
    pub fn since_opset(self) -> i64 {
        use OpType::*;
        match self {
            Expand => 8,
            Erf | Sign | Where | ConstantOfShape => 9,
            Mod => 10,
            Range | ScatterND | GatherND => 11,
            Einsum => 12,
            GreaterOrEqual | LessOrEqual => 12,
            HardSwish => 14,
            CastLike => 15,
            LayerNormalization => 17,
            Gelu => 20,
            _ => 1,
        }
    }

    /// The opsets `(first, last)` in which attribute `attr` of this op exists, among those we
    /// read. Attributes not listed here exist in every opset the op does.
    pub fn attr_opsets(self, attr: &str) -> (i64, i64) {
        use OpType::*;
        const NOW: i64 = i64::MAX;
        match (self, attr) {
            // Attributes that became inputs.
            (Slice, "starts" | "ends" | "axes") => (1, 9),
            (Clip, "min" | "max") | (Pad, "pads" | "value") => (1, 10),
            (Dropout, "ratio") => (1, 11),
            (Squeeze | Unsqueeze | ReduceSum, "axes") | (Split, "split") => (1, 12),
            (ReduceMean | ReduceMax | ReduceMin | ReduceSumSquare | ReduceL2, "axes") => (1, 17),
            (BatchNormalization, "spatial") => (1, 8),
            // Attributes added later.
            (AveragePool, "count_include_pad") => (7, NOW),
            (MaxPool, "storage_order") => (8, NOW),
            (AveragePool | MaxPool, "ceil_mode") | (MaxPool, "dilations") => (10, NOW),
            (Dropout, "seed") => (12, NOW),
            (Constant, "value_float" | "value_floats" | "value_int" | "value_ints") => (12, NOW),
            (ReduceSum, "noop_with_empty_axes") => (13, NOW),
            (BatchNormalization, "training_mode") | (Reshape, "allowzero") => (14, NOW),
            (Shape, "start" | "end") => (15, NOW),
            (GatherND, "batch_dims") => (12, NOW),
            (
                ReduceMean | ReduceMax | ReduceMin | ReduceSumSquare | ReduceL2,
                "noop_with_empty_axes",
            )
            | (Split, "num_outputs") => (18, NOW),
            (AveragePool, "dilations") | (Cast | CastLike, "saturate") => (19, NOW),
            (Cast | CastLike, "round_mode") => (24, NOW),
            _ => (1, NOW),
        }
    }

    /// Minimum and maximum number of inputs at `opset` (inputs that were attributes before it
    /// are counted only from the opset that made them inputs).
    pub fn input_arity_at(self, opset: i64) -> (usize, usize) {
        use OpType::*;
        match self {
            Slice if opset < 10 => (1, 1),
            Clip | Pad if opset < 11 => (1, 1),
            Pad if opset < 18 => (2, 3),
            Gemm if opset < 11 => (3, 3),
            Dropout if opset < 12 => (1, 1),
            Squeeze | Unsqueeze | ReduceSum | Split if opset < 13 => (1, 1),
            Unsqueeze => (2, 2),
            Slice => (3, 5),
            Pad => (2, 4),
            ReduceMean | ReduceMax | ReduceMin | ReduceSumSquare | ReduceL2 if opset < 18 => (1, 1),
            _ => self.input_arity(),
        }
    }

    /// Most outputs the op has at `opset`, when that is fewer than it has in general.
    pub fn max_outputs_at(self, opset: i64) -> Option<usize> {
        match self {
            OpType::MaxPool if opset < 8 => Some(1),
            _ => None,
        }
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &op in OpType::ALL {
            assert_eq!(OpType::from_name(op.name()), Some(op));
        }
        assert_eq!(OpType::from_name("NoSuchOp"), None);
    }

    #[test]
    fn every_windowed_attribute_is_an_allowed_one() {
        let windowed = [
            (OpType::Slice, "starts"),
            (OpType::Clip, "min"),
            (OpType::Pad, "value"),
            (OpType::Dropout, "ratio"),
            (OpType::Squeeze, "axes"),
            (OpType::ReduceSum, "axes"),
            (OpType::Split, "split"),
            (OpType::BatchNormalization, "spatial"),
            (OpType::AveragePool, "dilations"),
            (OpType::Cast, "round_mode"),
        ];
        for (op, attr) in windowed {
            assert!(op.allowed_attrs().contains(&attr), "{op} {attr}");
            assert_ne!(op.attr_opsets(attr), (1, i64::MAX), "{op} {attr}");
        }
        assert_eq!(OpType::Unsqueeze.input_arity_at(12), (1, 1));
        assert_eq!(OpType::Unsqueeze.input_arity_at(13), (2, 2));
        assert_eq!(OpType::Pad.input_arity_at(11), (2, 3));
        assert_eq!(OpType::Pad.input_arity_at(18), (2, 4));
    }
}
