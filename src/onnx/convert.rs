//! Conversions between protobuf tensors/attributes and the IR's.

use std::path::Path;

use super::external::{self, ExternalRef};
use super::pb;
use crate::error::{Error, Result};
use crate::ir::{Attr, DType, Tensor, TensorData};
use crate::limits::Limits;

/// The bytes a `TensorProto`'s type and shape claim, before reading any (0 when the type or
/// shape is invalid: reading it reports that).
pub fn claimed_bytes(t: &pb::TensorProto) -> u64 {
    let dtype = DType::from_onnx_code(t.data_type.unwrap_or(0));
    let dims: Option<Vec<usize>> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    match (dtype, dims) {
        (Some(dtype), Some(dims)) => crate::limits::tensor_bytes(dtype, &dims).unwrap_or(u64::MAX),
        _ => 0,
    }
}

/// Reads a `TensorProto` into a [`Tensor`]. `base_dir` resolves external data files.
pub fn tensor_from_proto(t: &pb::TensorProto, base_dir: Option<&Path>) -> Result<Tensor> {
    let name = t.name.clone().unwrap_or_default();
    let code = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx_code(code).ok_or_else(|| Error::UnsupportedDType {
        what: format!("tensor '{name}'"),
        dtype: DType::onnx_code_name(code).to_string(),
    })?;
    if t.segment.is_some() {
        return Err(Error::InvalidModel(format!(
            "tensor '{name}' is segmented, which is not supported"
        )));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(Error::InvalidModel(format!("tensor '{name}' has negative dimension {d}")));
        }
        shape.push(d as usize);
    }
    let n: usize = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::InvalidModel(format!("tensor '{name}' is too large")))?;
    let bad = |what: &str| {
        Error::InvalidModel(format!("tensor '{name}': {what} does not match its shape {shape:?}"))
    };
    let bytes = Limits::current().check_tensor(|| format!("tensor '{name}'"), dtype, &shape)?;
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        let r = external_ref(t, &name)?;
        let base = base_dir.ok_or_else(|| {
            Error::InvalidModel(format!(
                "tensor '{name}': external data needs the model's file path"
            ))
        })?;
        let bytes = external::read(&name, &r, base, bytes)?;
        return Tensor::from_le_bytes(dtype, shape.clone(), &bytes)
            .ok_or_else(|| bad("external data length"));
    }
    if let Some(raw) = &t.raw_data {
        return Tensor::from_le_bytes(dtype, shape.clone(), raw)
            .ok_or_else(|| bad("raw_data length"));
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(t.float_data.clone()),
        DType::F64 => TensorData::F64(t.double_data.clone()),
        DType::I64 => TensorData::I64(t.int64_data.clone()),
        DType::I32 => TensorData::I32(t.int32_data.clone()),
        DType::I8 => TensorData::I8(t.int32_data.iter().map(|&v| v as i8).collect()),
        DType::U8 => TensorData::U8(t.int32_data.iter().map(|&v| v as u8).collect()),
        DType::Bool => TensorData::Bool(t.int32_data.iter().map(|&v| v != 0).collect()),
        DType::F16 => TensorData::F16(t.int32_data.iter().map(|&v| v as u16).collect()),
        DType::BF16 => TensorData::BF16(t.int32_data.iter().map(|&v| v as u16).collect()),
    };
    if data.len() != n {
        return Err(bad(&format!("{} stored values", data.len())));
    }
    Tensor::new(shape.clone(), data).ok_or_else(|| bad("data"))
}

fn external_ref(t: &pb::TensorProto, name: &str) -> Result<ExternalRef> {
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    let number = |key: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| Error::InvalidModel(format!("tensor '{name}': bad external {key} '{v}'")))
    };
    for e in &t.external_data {
        let v = e.value.clone().unwrap_or_default();
        match e.key.as_deref() {
            Some("location") => location = Some(v),
            Some("offset") => offset = number("offset", &v)?,
            Some("length") => length = Some(number("length", &v)?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| {
        Error::InvalidModel(format!("tensor '{name}': external data without a location"))
    })?;
    Ok(ExternalRef { location, offset, length })
}

/// Writes a [`Tensor`] as a `TensorProto` with little-endian `raw_data`.
pub fn tensor_to_proto(name: &str, t: &Tensor) -> pb::TensorProto {
    pb::TensorProto {
        name: Some(name.to_string()),
        dims: t.shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(t.dtype().onnx_code()),
        raw_data: Some(t.to_le_bytes()),
        ..Default::default()
    }
}

/// Reads an attribute. `node` and `op` are for error messages.
pub fn attr_from_proto(a: &pb::AttributeProto, node: &str, op: &str) -> Result<(String, Attr)> {
    use pb::attribute_proto::AttributeType as T;
    let name = a.name.clone().unwrap_or_default();
    let err = |reason: String| Error::UnsupportedAttribute {
        node: node.to_string(),
        op: op.to_string(),
        attr: name.clone(),
        reason,
    };
    if a.ref_attr_name.is_some() {
        return Err(err("references a function attribute, which is not supported".into()));
    }
    let ty = a.r#type.and_then(|t| T::try_from(t).ok()).unwrap_or(T::Undefined);
    let utf8 =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| err("string is not UTF-8".into()));
    let value = match ty {
        T::Float => Attr::Float(a.f.unwrap_or(0.0)),
        T::Int => Attr::Int(a.i.unwrap_or(0)),
        T::String => Attr::String(utf8(a.s.as_deref().unwrap_or_default())?),
        T::Floats => Attr::Floats(a.floats.clone()),
        T::Ints => Attr::Ints(a.ints.clone()),
        T::Strings => Attr::Strings(a.strings.iter().map(|s| utf8(s)).collect::<Result<_>>()?),
        T::Tensor => {
            let t = a.t.as_ref().ok_or_else(|| err("tensor attribute without a tensor".into()))?;
            Attr::Tensor(tensor_from_proto(t, None).map_err(|e| err(e.to_string()))?)
        }
        other => {
            return Err(err(format!(
                "attributes of type {} are not supported",
                other.as_str_name()
            )));
        }
    };
    Ok((name, value))
}

/// Writes an attribute.
pub fn attr_to_proto(name: &str, a: &Attr) -> pb::AttributeProto {
    use pb::attribute_proto::AttributeType as T;
    let mut p = pb::AttributeProto { name: Some(name.to_string()), ..Default::default() };
    let ty = match a {
        Attr::Float(f) => {
            p.f = Some(*f);
            T::Float
        }
        Attr::Int(i) => {
            p.i = Some(*i);
            T::Int
        }
        Attr::String(s) => {
            p.s = Some(s.as_bytes().to_vec());
            T::String
        }
        Attr::Floats(f) => {
            p.floats = f.clone();
            T::Floats
        }
        Attr::Ints(i) => {
            p.ints = i.clone();
            T::Ints
        }
        Attr::Strings(s) => {
            p.strings = s.iter().map(|s| s.as_bytes().to_vec()).collect();
            T::Strings
        }
        Attr::Tensor(t) => {
            p.t = Some(tensor_to_proto("", t));
            T::Tensor
        }
    };
    p.r#type = Some(ty as i32);
    p
}
