//! Node attributes, typed, and [`NodeAttrs`], the one way to read them.

use std::collections::BTreeMap;

use super::graph::Node;
use super::op::OpType;
use super::tensor::Tensor;
use crate::error::{Error, Result};

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

/// Typed reads of one node's attributes, shared by shape inference (a node being added to a
/// graph), the gradient rules (a forward node) and every other reader of a [`Node`].
///
/// An absent attribute takes the given default (or `None`); one of the wrong kind is an
/// [`Error::UnsupportedAttribute`] naming the node, its op and the attribute, as is every error
/// made with [`NodeAttrs::attr_error`].
pub trait NodeAttrs {
    /// The node's name.
    fn node_name(&self) -> &str;

    /// The node's op.
    fn node_op(&self) -> OpType;

    /// The node's attributes by name.
    fn attr_map(&self) -> &BTreeMap<String, Attr>;

    /// The raw attribute `name`, if present.
    fn attr(&self, name: &str) -> Option<&Attr> {
        self.attr_map().get(name)
    }

    /// An error about attribute `name` of this node.
    fn attr_error(&self, name: &str, reason: impl Into<String>) -> Error {
        attr_error(self.node_name(), self.node_op(), name, reason.into())
    }

    /// An integer attribute, if present.
    fn attr_int_opt(&self, name: &str) -> Result<Option<i64>> {
        typed(self, name, "an int", |a| match a {
            Attr::Int(v) => Some(*v),
            _ => None,
        })
    }

    /// An integer attribute, or `default`.
    fn attr_int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.attr_int_opt(name)?.unwrap_or(default))
    }

    /// An integer attribute that must be present.
    fn attr_int_required(&self, name: &str) -> Result<i64> {
        self.attr_int_opt(name)?.ok_or_else(|| {
            attr_error(
                self.node_name(),
                self.node_op(),
                name,
                "required int attribute is missing".into(),
            )
        })
    }

    /// A float attribute, if present.
    fn attr_float_opt(&self, name: &str) -> Result<Option<f32>> {
        typed(self, name, "a float", |a| match a {
            Attr::Float(v) => Some(*v),
            _ => None,
        })
    }

    /// A float attribute, or `default`.
    fn attr_float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.attr_float_opt(name)?.unwrap_or(default))
    }

    /// An integer-list attribute, if present.
    fn attr_ints(&self, name: &str) -> Result<Option<&[i64]>> {
        typed(self, name, "ints", |a| match a {
            Attr::Ints(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// A string attribute, or `default`.
    fn attr_str<'s>(&'s self, name: &str, default: &'s str) -> Result<&'s str> {
        Ok(typed(self, name, "a string", |a| match a {
            Attr::String(v) => Some(v.as_str()),
            _ => None,
        })?
        .unwrap_or(default))
    }

    /// A tensor attribute, if present.
    fn attr_tensor(&self, name: &str) -> Result<Option<&Tensor>> {
        typed(self, name, "a tensor", |a| match a {
            Attr::Tensor(t) => Some(t),
            _ => None,
        })
    }
}

impl NodeAttrs for Node {
    fn node_name(&self) -> &str {
        &self.name
    }

    fn node_op(&self) -> OpType {
        self.op
    }

    fn attr_map(&self) -> &BTreeMap<String, Attr> {
        &self.attrs
    }
}

fn attr_error(node: &str, op: OpType, attr: &str, reason: String) -> Error {
    Error::UnsupportedAttribute {
        node: node.to_string(),
        op: op.name().to_string(),
        attr: attr.to_string(),
        reason,
    }
}

/// Attribute `name` through `pick`, which accepts the expected kind (`expected`, for the error).
fn typed<'s, T: 's, A: NodeAttrs + ?Sized>(
    attrs: &'s A,
    name: &str,
    expected: &str,
    pick: impl FnOnce(&'s Attr) -> Option<T>,
) -> Result<Option<T>> {
    match attrs.attr(name) {
        None => Ok(None),
        Some(a) => pick(a).map(Some).ok_or_else(|| {
            attr_error(
                attrs.node_name(),
                attrs.node_op(),
                name,
                format!("expected {expected}, got {}", a.kind()),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(attrs: Vec<(&str, Attr)>) -> Node {
        Node {
            name: "n".into(),
            op: OpType::Conv,
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    #[test]
    fn typed_reads_and_defaults() -> Result<()> {
        let n = node(vec![
            ("group", Attr::Int(2)),
            ("alpha", Attr::Float(0.5)),
            ("pads", Attr::Ints(vec![1, 1])),
            ("auto_pad", Attr::String("VALID".into())),
        ]);
        assert_eq!(n.attr_int("group", 1)?, 2);
        assert_eq!(n.attr_int("missing", 7)?, 7);
        assert_eq!(n.attr_int_opt("missing")?, None);
        assert_eq!(n.attr_float("alpha", 1.0)?, 0.5);
        assert_eq!(n.attr_float_opt("missing")?, None);
        assert_eq!(n.attr_ints("pads")?, Some(&[1i64, 1][..]));
        assert_eq!(n.attr_str("auto_pad", "NOTSET")?, "VALID");
        assert_eq!(n.attr_str("missing", "NOTSET")?, "NOTSET");
        assert!(n.attr_tensor("missing")?.is_none());
        Ok(())
    }

    #[test]
    fn errors_name_node_op_and_attribute() {
        let n = node(vec![("group", Attr::Float(2.0))]);
        for msg in [
            n.attr_int("group", 1).expect_err("an error").to_string(),
            n.attr_ints("group").expect_err("an error").to_string(),
            n.attr_str("group", "").expect_err("an error").to_string(),
            node(vec![]).attr_int_required("group").expect_err("an error").to_string(),
            n.attr_error("group", "bad").to_string(),
        ] {
            assert!(
                msg.contains("'n'") && msg.contains("Conv") && msg.contains("'group'"),
                "{msg}"
            );
        }
        let msg = n.attr_int("group", 1).expect_err("an error").to_string();
        assert!(msg.contains("expected an int, got float"), "{msg}");
    }
}
