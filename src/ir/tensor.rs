//! Constant tensors: initializers, attribute values and statically known (folded) values.

use super::dtype::{DType, TensorType};

/// The elements of a constant tensor, stored in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 16-bit floats as raw IEEE bits.
    F16(Vec<u16>),
    /// bfloat16 values as raw bits.
    BF16(Vec<u16>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 8-bit signed integers.
    I8(Vec<i8>),
    /// 8-bit unsigned integers.
    U8(Vec<u8>),
    /// Booleans.
    Bool(Vec<bool>),
}

impl TensorData {
    /// Element type of the data.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::F16(v) | TensorData::BF16(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A constant tensor with a static shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major; `data.len()` equals the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// A tensor from a shape and matching data. Returns `None` if the element count differs.
    pub fn new(shape: impl Into<Vec<usize>>, data: TensorData) -> Option<Tensor> {
        let shape = shape.into();
        (shape.iter().product::<usize>() == data.len()).then_some(Tensor { shape, data })
    }

    /// A float32 tensor. Panics if the lengths differ (for builders with computed shapes).
    pub fn f32(shape: impl Into<Vec<usize>>, values: Vec<f32>) -> Tensor {
        let shape = shape.into();
        assert_eq!(shape.iter().product::<usize>(), values.len(), "tensor shape and data disagree");
        Tensor { shape, data: TensorData::F32(values) }
    }

    /// A 1-D int64 tensor.
    pub fn i64_vec(values: Vec<i64>) -> Tensor {
        Tensor { shape: vec![values.len()], data: TensorData::I64(values) }
    }

    /// A scalar int64 tensor.
    pub fn i64_scalar(value: i64) -> Tensor {
        Tensor { shape: vec![], data: TensorData::I64(vec![value]) }
    }

    /// A scalar float32 tensor.
    pub fn f32_scalar(value: f32) -> Tensor {
        Tensor { shape: vec![], data: TensorData::F32(vec![value]) }
    }

    /// A tensor of `dtype` filled with the numeric `value`.
    pub fn full(dtype: DType, shape: impl Into<Vec<usize>>, value: f64) -> Tensor {
        let shape = shape.into();
        let n = shape.iter().product();
        Tensor { shape, data: from_f64(dtype, vec![value; n]) }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The tensor type (dtype and shape).
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape.clone())
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements if this is an int64 tensor.
    pub fn data_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Elements converted to i64 (floats truncated toward zero, bools as 0/1).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            TensorData::I64(v) => v.clone(),
            TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            _ => self.to_f64().into_iter().map(|x| x as i64).collect(),
        }
    }

    /// Elements converted to f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::F16(v) => v.iter().map(|&b| f16_to_f32(b) as f64).collect(),
            TensorData::BF16(v) => {
                v.iter().map(|&b| f32::from_bits((b as u32) << 16) as f64).collect()
            }
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// Elements converted to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            _ => self.to_f64().into_iter().map(|x| x as f32).collect(),
        }
    }

    /// This tensor converted to another element type (ONNX `Cast` semantics for finite values).
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let data = if dtype.is_float() || !self.dtype().is_float() {
            if self.dtype().is_float() {
                from_f64(dtype, self.to_f64())
            } else {
                from_i64(dtype, self.to_i64())
            }
        } else {
            from_i64(dtype, self.to_f64().into_iter().map(|x| x as i64).collect())
        };
        Tensor { shape: self.shape.clone(), data }
    }

    /// The same data with another shape of equal element count.
    pub fn reshaped(&self, shape: Vec<usize>) -> Option<Tensor> {
        Tensor::new(shape, self.data.clone())
    }

    /// Little-endian raw bytes of the elements (ONNX `raw_data` layout).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.numel() * self.dtype().size_of());
        match &self.data {
            TensorData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorData::F16(v) | TensorData::BF16(v) => {
                v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
            }
            TensorData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorData::I8(v) => v.iter().for_each(|x| out.push(*x as u8)),
            TensorData::U8(v) => out.extend_from_slice(v),
            TensorData::Bool(v) => v.iter().for_each(|x| out.push(*x as u8)),
        }
        out
    }

    /// Elements from little-endian raw bytes. Returns `None` if the byte count does not fit.
    pub fn from_le_bytes(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Option<Tensor> {
        let n = crate::ir::dtype::checked_numel(&shape)?;
        if bytes.len() != n.checked_mul(dtype.size_of())? {
            return None;
        }
        fn chunks<const W: usize, T>(b: &[u8], f: impl Fn([u8; W]) -> T) -> Vec<T> {
            b.chunks_exact(W).map(|c| f(c.try_into().unwrap_or([0; W]))).collect()
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(chunks(bytes, f32::from_le_bytes)),
            DType::F64 => TensorData::F64(chunks(bytes, f64::from_le_bytes)),
            DType::F16 => TensorData::F16(chunks(bytes, u16::from_le_bytes)),
            DType::BF16 => TensorData::BF16(chunks(bytes, u16::from_le_bytes)),
            DType::I64 => TensorData::I64(chunks(bytes, i64::from_le_bytes)),
            DType::I32 => TensorData::I32(chunks(bytes, i32::from_le_bytes)),
            DType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        };
        Some(Tensor { shape, data })
    }
}

/// Data of `dtype` from f64 values.
pub fn from_f64(dtype: DType, v: Vec<f64>) -> TensorData {
    match dtype {
        DType::F32 => TensorData::F32(v.into_iter().map(|x| x as f32).collect()),
        DType::F64 => TensorData::F64(v),
        DType::F16 => TensorData::F16(v.into_iter().map(|x| f32_to_f16(x as f32)).collect()),
        DType::BF16 => {
            TensorData::BF16(v.into_iter().map(|x| ((x as f32).to_bits() >> 16) as u16).collect())
        }
        _ => from_i64(dtype, v.into_iter().map(|x| x as i64).collect()),
    }
}

/// Data of `dtype` from i64 values.
pub fn from_i64(dtype: DType, v: Vec<i64>) -> TensorData {
    match dtype {
        DType::I64 => TensorData::I64(v),
        DType::I32 => TensorData::I32(v.into_iter().map(|x| x as i32).collect()),
        DType::I8 => TensorData::I8(v.into_iter().map(|x| x as i8).collect()),
        DType::U8 => TensorData::U8(v.into_iter().map(|x| x as u8).collect()),
        DType::Bool => TensorData::Bool(v.into_iter().map(|x| x != 0).collect()),
        _ => from_f64(dtype, v.into_iter().map(|x| x as f64).collect()),
    }
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let frac = (bits & 0x3ff) as u32;
    let v = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: value = frac * 2^-24
            let f = frac as f32 * (-24f32).exp2();
            return if sign != 0 { -f } else { f };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(v)
}

fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let frac = bits & 0x7f_ffff;
    if (bits >> 23) & 0xff == 0xff {
        return sign | 0x7c00 | if frac != 0 { 0x200 } else { 0 };
    }
    if exp >= 31 {
        sign | 0x7c00
    } else if exp <= 0 {
        if exp < -10 {
            sign
        } else {
            let m = frac | 0x80_0000;
            sign | (m >> (14 - exp)) as u16
        }
    } else {
        sign | ((exp as u16) << 10) | (frac >> 13) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_bytes_round_trip() {
        let t = Tensor::f32([2, 2], vec![1.0, -2.5, 3.25, 0.0]);
        let b = t.to_le_bytes();
        assert_eq!(Tensor::from_le_bytes(DType::F32, vec![2, 2], &b), Some(t));
        assert_eq!(Tensor::from_le_bytes(DType::F32, vec![3], &b), None);
    }

    #[test]
    fn f16_conversion() {
        for x in [0.0f32, 1.0, -2.0, 0.5, 65504.0, 6.1035156e-5] {
            assert_eq!(f16_to_f32(f32_to_f16(x)), x);
        }
    }

    #[test]
    fn cast_float_to_int_truncates() {
        let t = Tensor::f32([3], vec![1.7, -1.7, 2.0]).cast(DType::I64);
        assert_eq!(t.to_i64(), vec![1, -1, 2]);
    }
}
