//! Evaluation of elementwise ops on statically known tensors (constant folding of shape paths).
//!
//! Integers are computed in i64 (exact, so `INT64_MAX` slice ends survive), floats in f64 and
//! cast back to the output type.

use super::broadcast::broadcast_indices;
use crate::ir::dtype::DType;
use crate::ir::op::OpType;
use crate::ir::tensor::{Tensor, from_f64, from_i64};

/// Applies a unary elementwise op, if it has a static meaning (not Dropout).
pub fn unary(op: OpType, x: &Tensor) -> Option<Tensor> {
    use OpType::*;
    let dtype = x.dtype();
    if !dtype.is_float() {
        let v = x.to_i64();
        let r: Vec<i64> = match op {
            Identity => v,
            Neg => v.iter().map(|a| a.wrapping_neg()).collect(),
            Abs => v.iter().map(|a| a.wrapping_abs()).collect(),
            Sign => v.iter().map(|a| a.signum()).collect(),
            Relu => v.iter().map(|&a| a.max(0)).collect(),
            Not if dtype == DType::Bool => v.iter().map(|&a| (a == 0) as i64).collect(),
            _ => return None,
        };
        return Some(Tensor { shape: x.shape.clone(), data: from_i64(dtype, r) });
    }
    let v = x.to_f64();
    let f: fn(f64) -> f64 = match op {
        Identity => |a| a,
        Neg => |a| -a,
        Abs => f64::abs,
        Sqrt => f64::sqrt,
        Reciprocal => |a| 1.0 / a,
        Exp => f64::exp,
        Log => f64::ln,
        Floor => f64::floor,
        Ceil => f64::ceil,
        Relu => |a| a.max(0.0),
        Sign => |a| if a == 0.0 { 0.0 } else { a.signum() },
        Tanh => f64::tanh,
        Sigmoid => |a| 1.0 / (1.0 + (-a).exp()),
        _ => return None,
    };
    Some(Tensor { shape: x.shape.clone(), data: from_f64(dtype, v.into_iter().map(f).collect()) })
}

/// Applies a broadcasting elementwise op to known inputs, producing `out_dtype`.
pub fn broadcast(
    op: OpType,
    inputs: &[&Tensor],
    out_shape: &[usize],
    out_dtype: DType,
) -> Option<Tensor> {
    use OpType::*;
    let idx: Vec<Vec<usize>> =
        inputs.iter().map(|t| broadcast_indices(&t.shape, out_shape)).collect();
    let n: usize = out_shape.iter().product();
    if op == Where {
        let c = inputs[0].to_i64();
        let data_float = inputs[1].dtype().is_float();
        let data = if data_float {
            let (a, b) = (inputs[1].to_f64(), inputs[2].to_f64());
            from_f64(
                out_dtype,
                (0..n)
                    .map(|i| if c[idx[0][i]] != 0 { a[idx[1][i]] } else { b[idx[2][i]] })
                    .collect(),
            )
        } else {
            let (a, b) = (inputs[1].to_i64(), inputs[2].to_i64());
            from_i64(
                out_dtype,
                (0..n)
                    .map(|i| if c[idx[0][i]] != 0 { a[idx[1][i]] } else { b[idx[2][i]] })
                    .collect(),
            )
        };
        return Some(Tensor { shape: out_shape.to_vec(), data });
    }
    let float = inputs[0].dtype().is_float();
    let data = if float {
        let vals: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_f64()).collect();
        let fold = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let mut acc = vals[0][idx[0][i]];
                    for k in 1..vals.len() {
                        acc = f(acc, vals[k][idx[k][i]]);
                    }
                    acc
                })
                .collect()
        };
        let cmp = |f: &dyn Fn(f64, f64) -> bool| -> Vec<i64> {
            (0..n).map(|i| f(vals[0][idx[0][i]], vals[1][idx[1][i]]) as i64).collect()
        };
        match op {
            Add | Sum => from_f64(out_dtype, fold(&|a, b| a + b)),
            Sub => from_f64(out_dtype, fold(&|a, b| a - b)),
            Mul => from_f64(out_dtype, fold(&|a, b| a * b)),
            Div => from_f64(out_dtype, fold(&|a, b| a / b)),
            Pow => from_f64(out_dtype, fold(&f64::powf)),
            Max => from_f64(out_dtype, fold(&f64::max)),
            Min => from_f64(out_dtype, fold(&f64::min)),
            Mean => {
                let k = vals.len() as f64;
                from_f64(out_dtype, fold(&|a, b| a + b).into_iter().map(|s| s / k).collect())
            }
            Mod => from_f64(out_dtype, fold(&|a, b| a % b)),
            Equal => from_i64(out_dtype, cmp(&|a, b| a == b)),
            Greater => from_i64(out_dtype, cmp(&|a, b| a > b)),
            GreaterOrEqual => from_i64(out_dtype, cmp(&|a, b| a >= b)),
            Less => from_i64(out_dtype, cmp(&|a, b| a < b)),
            LessOrEqual => from_i64(out_dtype, cmp(&|a, b| a <= b)),
            _ => return None,
        }
    } else {
        let vals: Vec<Vec<i64>> = inputs.iter().map(|t| t.to_i64()).collect();
        let fold = |f: &dyn Fn(i64, i64) -> Option<i64>| -> Option<Vec<i64>> {
            (0..n)
                .map(|i| {
                    let mut acc = vals[0][idx[0][i]];
                    for k in 1..vals.len() {
                        acc = f(acc, vals[k][idx[k][i]])?;
                    }
                    Some(acc)
                })
                .collect()
        };
        let cmp = |f: &dyn Fn(i64, i64) -> bool| -> Vec<i64> {
            (0..n).map(|i| f(vals[0][idx[0][i]], vals[1][idx[1][i]]) as i64).collect()
        };
        let r = match op {
            Add | Sum => fold(&|a, b| a.checked_add(b))?,
            Sub => fold(&|a, b| a.checked_sub(b))?,
            Mul => fold(&|a, b| a.checked_mul(b))?,
            // ONNX integer Div truncates toward zero like C.
            Div => fold(&|a, b| a.checked_div(b))?,
            // ONNX integer Mod with fmod=0 takes the sign of the divisor (Python semantics).
            Mod => fold(&|a, b| {
                a.checked_rem_euclid(b).map(|r| if b < 0 && r != 0 { r + b } else { r })
            })?,
            Max => fold(&|a, b| Some(a.max(b)))?,
            Min => fold(&|a, b| Some(a.min(b)))?,
            And => fold(&|a, b| Some(((a != 0) && (b != 0)) as i64))?,
            Or => fold(&|a, b| Some(((a != 0) || (b != 0)) as i64))?,
            Equal => cmp(&|a, b| a == b),
            Greater => cmp(&|a, b| a > b),
            GreaterOrEqual => cmp(&|a, b| a >= b),
            Less => cmp(&|a, b| a < b),
            LessOrEqual => cmp(&|a, b| a <= b),
            _ => return None,
        };
        from_i64(out_dtype, r)
    };
    Some(Tensor { shape: out_shape.to_vec(), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_mod_follows_divisor_sign() {
        let a = Tensor::i64_vec(vec![7, -7, 7, -7]);
        let b = Tensor::i64_vec(vec![3, 3, -3, -3]);
        let r = broadcast(OpType::Mod, &[&a, &b], &[4], DType::I64).map(|t| t.to_i64());
        assert_eq!(r, Some(vec![1, 2, -2, -1]));
    }

    #[test]
    fn integer_div_truncates() {
        let a = Tensor::i64_vec(vec![7, -7]);
        let b = Tensor::i64_scalar(2);
        let r = broadcast(OpType::Div, &[&a, &b], &[2], DType::I64).map(|t| t.to_i64());
        assert_eq!(r, Some(vec![3, -3]));
    }
}
