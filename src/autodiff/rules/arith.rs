//! Arithmetic: Add, Sub, Mul, Div, Sum, Mean (with broadcasting), unary math, Where.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::{DType, OpType, Tensor, ValueId};

/// Add, Sub, Mul, Div, Sum, Mean: gradients reduced back over broadcast axes.
pub fn arith(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let n = c.inputs.len();
    let mut out = vec![None; n];
    for i in 0..n {
        if !c.need(i) {
            continue;
        }
        let xi = c.x(i)?;
        let target = c.shape(xi);
        let d = match (c.node.op, i) {
            (OpType::Add | OpType::Sum, _) | (OpType::Sub, 0) => g,
            (OpType::Sub, _) => c.e.neg("neg", g)?,
            (OpType::Mean, _) => c.e.scale("mean", g, 1.0 / n as f32)?,
            (OpType::Mul, _) => {
                let other = c.x(1 - i)?;
                c.e.mul(&format!("d{i}"), g, other)?
            }
            (OpType::Div, 0) => {
                let b = c.x(1)?;
                c.e.div("d0", g, b)?
            }
            (OpType::Div, _) => {
                // d/db (a/b) = -a/b² = -y/b
                let b = c.x(1)?;
                let y = c.y(0);
                let t = c.e.mul("gy", g, y)?;
                let t = c.e.div("gy_b", t, b)?;
                c.e.neg("d1", t)?
            }
            _ => return Err(c.err("unexpected op")),
        };
        out[i] = Some(c.e.unbroadcast(&format!("dx{i}"), d, &target)?);
    }
    Ok(out)
}

/// Neg, Reciprocal, Sqrt, Exp, Log, Pow (the base's gradient, any exponent), Abs.
pub fn unary(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let x = c.x(0)?;
    let y = c.y(0);
    let d = match c.node.op {
        OpType::Neg => c.e.neg("dx", g)?,
        OpType::Reciprocal => {
            let yy = c.e.mul("y2", y, y)?;
            let t = c.e.mul("gy2", g, yy)?;
            c.e.neg("dx", t)?
        }
        OpType::Sqrt => {
            let t = c.e.div("g_y", g, y)?;
            c.e.scale("dx", t, 0.5)?
        }
        OpType::Exp => c.e.mul("dx", g, y)?,
        OpType::Log => c.e.div("dx", g, x)?,
        OpType::Abs => {
            let s = c.e.sign("sign", x)?;
            c.e.mul("dx", g, s)?
        }
        OpType::Pow => {
            if c.need(1) {
                return Err(c.err("gradient with respect to the exponent is not supported"));
            }
            // d/dx x^p = p·x^(p−1), elementwise with p broadcast: a scalar or a tensor exponent.
            let p = c.x(1)?;
            let known = c.e.graph().value(p).data.clone();
            let (pm1, pf) = match known {
                Some(t) if t.shape.is_empty() => {
                    let p = t.to_f64()[0];
                    (c.e.scalar((p - 1.0) as f32)?, c.e.scalar(p as f32)?)
                }
                Some(t) => {
                    let pv = t.to_f64();
                    let shape = t.shape.clone();
                    let pm1 =
                        Tensor::f32(shape.clone(), pv.iter().map(|&v| (v - 1.0) as f32).collect());
                    let pf = Tensor::f32(shape, pv.iter().map(|&v| v as f32).collect());
                    (c.e.tensor("p_minus_1", pm1)?, c.e.tensor("p_f32", pf)?)
                }
                None => {
                    let pf = if c.e.graph().value(p).ty.dtype == DType::F32 {
                        p
                    } else {
                        c.e.cast_f32("p_f32", p)?
                    };
                    let one = c.e.scalar(1.0)?;
                    (c.e.sub("p_minus_1", pf, one)?, pf)
                }
            };
            let xp = c.e.op(OpType::Pow, "x_pm1", &[x, pm1], vec![])?;
            let t = c.e.mul("g_xpm1", g, xp)?;
            let d = c.e.mul("dx_full", t, pf)?;
            let xs = c.shape(x);
            c.e.unbroadcast("dx", d, &xs)?
        }
        _ => return Err(c.err("unexpected op")),
    };
    let mut out = vec![None; c.inputs.len()];
    out[0] = Some(d);
    Ok(out)
}

/// Where: the gradient flows to the branch the condition selected.
pub fn where_(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let cond = c.x(0)?;
    let zero = c.e.scalar(0.0)?;
    let mut out = vec![None; 3];
    for i in 1..3 {
        if !c.need(i) {
            continue;
        }
        let inputs = if i == 1 { [cond, g, zero] } else { [cond, zero, g] };
        let d = c.e.op(OpType::Where, &format!("sel{i}"), &inputs, vec![])?;
        let target = c.shape(c.x(i)?);
        out[i] = Some(c.e.unbroadcast(&format!("dx{i}"), d, &target)?);
    }
    Ok(out)
}
