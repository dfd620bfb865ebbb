//! Gemm and MatMul.

use super::{Ctx, Inferred, broadcast_shapes, unknown};
use crate::error::Result;
use crate::ir::attr::NodeAttrs;

/// Gemm: `alpha * A' B' + beta * C` with optional transposes.
pub fn gemm(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let a = ctx.ty(0)?;
    let b = ctx.ty(1)?;
    if a.rank() != 2 || b.rank() != 2 {
        return Err(ctx.err(format!("A {:?} and B {:?} must be matrices", a.shape, b.shape)));
    }
    if a.dtype != b.dtype {
        return Err(ctx.err(format!("A is {} but B is {}", a.dtype, b.dtype)));
    }
    let (m, k) = if ctx.attr_int("transA", 0)? != 0 {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, n) = if ctx.attr_int("transB", 0)? != 0 {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        return Err(ctx.err(format!(
            "inner dimensions differ: A gives {k}, B gives {k2} (check transA/transB)"
        )));
    }
    if let Some(c) = ctx.opt_input(2)
        && broadcast_shapes(&[&c.ty.shape, &[m, n]]).as_deref() != Some(&[m, n][..])
    {
        return Err(ctx.err(format!("C {:?} does not broadcast to [{m}, {n}]", c.ty.shape)));
    }
    Ok(vec![unknown(a.dtype, vec![m, n])])
}

/// The output shape of a numpy-style matmul, or `None` if the shapes do not fit.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return None;
    }
    let mut out = broadcast_shapes(&[&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Some(out)
}

/// MatMul with numpy semantics (1-D promotion, batch broadcasting).
pub fn matmul(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let a = ctx.ty(0)?;
    let b = ctx.ty(1)?;
    if a.dtype != b.dtype {
        return Err(ctx.err(format!("A is {} but B is {}", a.dtype, b.dtype)));
    }
    let shape = matmul_shape(&a.shape, &b.shape).ok_or_else(|| {
        ctx.err(format!("shapes {:?} and {:?} cannot be multiplied", a.shape, b.shape))
    })?;
    Ok(vec![unknown(a.dtype, shape)])
}
