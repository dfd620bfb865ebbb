//! A session: feeds IR tensors in, gets IR tensors out.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ir::{Tensor, TensorData};

/// An ONNX Runtime session for one model.
pub struct Session {
    inner: ort::session::Session,
}

fn to_value(name: &str, t: &Tensor) -> Result<ort::value::DynValue> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let e = |e: ort::Error| Error::Runtime(format!("input '{name}': {e}"));
    Ok(match &t.data {
        TensorData::F32(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::F64(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::I64(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::I32(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::U8(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::I8(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::Bool(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map_err(e)?.into_dyn()
        }
        TensorData::F16(_) | TensorData::BF16(_) => {
            return Err(Error::Runtime(format!(
                "input '{name}': 16-bit float inputs are not supported"
            )));
        }
    })
}

fn from_value(name: &str, v: &ort::value::DynValue) -> Result<Tensor> {
    use ort::value::{TensorElementType as E, ValueType};
    let ValueType::Tensor { ty, .. } = v.dtype() else {
        return Err(Error::Runtime(format!("output '{name}' is not a tensor")));
    };
    let e = |e: ort::Error| Error::Runtime(format!("output '{name}': {e}"));
    macro_rules! get {
        ($t:ty, $variant:ident) => {{
            let (shape, data) = v.try_extract_tensor::<$t>().map_err(e)?;
            (
                shape.iter().map(|&d| d as usize).collect::<Vec<_>>(),
                TensorData::$variant(data.to_vec()),
            )
        }};
    }
    let (shape, data) = match ty {
        E::Float32 => get!(f32, F32),
        E::Float64 => get!(f64, F64),
        E::Int64 => get!(i64, I64),
        E::Int32 => get!(i32, I32),
        E::Uint8 => get!(u8, U8),
        E::Int8 => get!(i8, I8),
        E::Bool => get!(bool, Bool),
        other => {
            return Err(Error::Runtime(format!("output '{name}' has unsupported type {other:?}")));
        }
    };
    Tensor::new(shape, data)
        .ok_or_else(|| Error::Runtime(format!("output '{name}': shape and data disagree")))
}

impl Session {
    pub(super) fn new(inner: ort::session::Session) -> Session {
        Session { inner }
    }

    /// Names of the model's inputs, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.inner.inputs().iter().map(|o| o.name().to_string()).collect()
    }

    /// Names of the model's outputs, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.inner.outputs().iter().map(|o| o.name().to_string()).collect()
    }

    /// Runs the model on named inputs; returns every output by name.
    pub fn run(&mut self, feeds: &[(&str, &Tensor)]) -> Result<BTreeMap<String, Tensor>> {
        Ok(self.run_keeping(feeds, &Kept::default(), &[])?.0)
    }

    /// Runs the model on named inputs and on values kept from an earlier run (fed without a
    /// copy); returns the outputs named in `keep` as values left inside ONNX Runtime, and every
    /// other output as a tensor.
    pub(super) fn run_keeping(
        &mut self,
        feeds: &[(&str, &Tensor)],
        kept: &Kept,
        keep: &[String],
    ) -> Result<(BTreeMap<String, Tensor>, Kept)> {
        let mut inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = feeds
            .iter()
            .map(|(n, t)| Ok((n.to_string(), to_value(n, t)?.into())))
            .collect::<Result<_>>()?;
        inputs.extend(kept.values.iter().map(|(n, v)| (n.clone(), v.into())));
        let outputs = self.inner.run(inputs).map_err(|e| Error::Runtime(e.to_string()))?;
        let mut out = BTreeMap::new();
        let mut values = Vec::new();
        for (name, value) in outputs {
            if keep.iter().any(|k| k == name) {
                values.push((name.to_string(), value));
            } else {
                out.insert(name.to_string(), from_value(name, &value)?);
            }
        }
        Ok((out, Kept { values }))
    }
}

/// Outputs of one run left inside ONNX Runtime, to be fed to another run without a copy.
#[derive(Default)]
pub(super) struct Kept {
    values: Vec<(String, ort::value::DynValue)>,
}

impl Kept {
    /// Names of the values.
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(n, _)| n.as_str())
    }

    /// A copy of the value `name` as a tensor, if it is kept here.
    pub(super) fn tensor(&self, name: &str) -> Option<Result<Tensor>> {
        self.values.iter().find(|(n, _)| n == name).map(|(n, v)| from_value(n, v))
    }
}
