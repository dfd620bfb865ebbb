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

            /// Attribute names this op accepts (any opset we support).
            pub fn allowed_attrs(self) -> &'static [&'static str] {
                match self { $(OpType::$variant => &[$($attr),*],)* }
            }

            /// Minimum and maximum number of inputs (optional trailing inputs included).
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
    Clip => "Clip", attrs: [], inputs: 1..=3;
    Cast => "Cast", attrs: ["to", "saturate", "round_mode"], inputs: 1..=1;
    CastLike => "CastLike", attrs: ["saturate", "round_mode"], inputs: 2..=2;
    Dropout => "Dropout", attrs: ["seed"], inputs: 1..=3;
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
    BatchNormalization => "BatchNormalization", attrs: ["epsilon", "momentum", "training_mode"], inputs: 5..=5;
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
    ReduceSum => "ReduceSum", attrs: ["keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceMax => "ReduceMax", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceMin => "ReduceMin", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceSumSquare => "ReduceSumSquare", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    ReduceL2 => "ReduceL2", attrs: ["axes", "keepdims", "noop_with_empty_axes"], inputs: 1..=2;
    // shape manipulation
    Concat => "Concat", attrs: ["axis"], inputs: 1..=MANY;
    Split => "Split", attrs: ["axis", "num_outputs"], inputs: 1..=2;
    Slice => "Slice", attrs: [], inputs: 3..=5;
    Reshape => "Reshape", attrs: ["allowzero"], inputs: 2..=2;
    Flatten => "Flatten", attrs: ["axis"], inputs: 1..=1;
    Transpose => "Transpose", attrs: ["perm"], inputs: 1..=1;
    Squeeze => "Squeeze", attrs: [], inputs: 1..=2;
    Unsqueeze => "Unsqueeze", attrs: [], inputs: 2..=2;
    Pad => "Pad", attrs: ["mode"], inputs: 2..=4;
    Expand => "Expand", attrs: [], inputs: 2..=2;
    Tile => "Tile", attrs: [], inputs: 2..=2;
    Gather => "Gather", attrs: ["axis"], inputs: 2..=2;
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

    /// The opset that introduced this op in the form we support, if later than 13.
    pub fn since_opset(self) -> i64 {
        match self {
            OpType::Gelu => 20,
            OpType::LayerNormalization => 17,
            OpType::HardSwish | OpType::CastLike => 14,
            _ => 1,
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
}
