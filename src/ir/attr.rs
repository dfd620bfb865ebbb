//! Node attributes, typed.

use super::tensor::Tensor;

/// One attribute value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A single integer.
    Int(i64),
    /// A single float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string.
    String(String),
    /// A list of strings.
    Strings(Vec<String>),
    /// A constant tensor.
    Tensor(Tensor),
}

impl Attr {
    /// Name of the attribute's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Int(_) => "int",
            Attr::Float(_) => "float",
            Attr::Ints(_) => "ints",
            Attr::Floats(_) => "floats",
            Attr::String(_) => "string",
            Attr::Strings(_) => "strings",
            Attr::Tensor(_) => "tensor",
        }
    }
}

impl From<i64> for Attr {
    fn from(v: i64) -> Self {
        Attr::Int(v)
    }
}

impl From<f32> for Attr {
    fn from(v: f32) -> Self {
        Attr::Float(v)
    }
}

impl From<Vec<i64>> for Attr {
    fn from(v: Vec<i64>) -> Self {
        Attr::Ints(v)
    }
}

impl From<&[i64]> for Attr {
    fn from(v: &[i64]) -> Self {
        Attr::Ints(v.to_vec())
    }
}

impl<const N: usize> From<[i64; N]> for Attr {
    fn from(v: [i64; N]) -> Self {
        Attr::Ints(v.to_vec())
    }
}

impl From<&str> for Attr {
    fn from(v: &str) -> Self {
        Attr::String(v.to_string())
    }
}

impl From<Tensor> for Attr {
    fn from(v: Tensor) -> Self {
        Attr::Tensor(v)
    }
}
