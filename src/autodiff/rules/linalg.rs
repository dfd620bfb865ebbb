//! Gemm and MatMul.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::{Attr, NodeAttrs, OpType, ValueId};

/// A Gemm without C (before opset 11 C is required: a zero scalar is given).
fn gemm_no_c(
    c: &mut RuleCtx,
    name: &str,
    a: ValueId,
    b: ValueId,
    attrs: Vec<(&str, Attr)>,
) -> Result<ValueId> {
    if c.e.opset() < 11 {
        let zero = c.e.scalar(0.0)?;
        return c.e.op(OpType::Gemm, name, &[a, b, zero], attrs);
    }
    c.e.op(OpType::Gemm, name, &[a, b], attrs)
}

/// Gemm: Y = alpha·op(A)·op(B) + beta·C.
pub fn gemm(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let (a, b) = (c.x(0)?, c.x(1)?);
    let (ta, tb) = (c.attr_int("transA", 0)?, c.attr_int("transB", 0)?);
    let (alpha, beta) = (c.attr_float("alpha", 1.0)?, c.attr_float("beta", 1.0)?);
    let mut out = vec![None; c.inputs.len()];
    let gemm = |c: &mut RuleCtx, name: &str, p: ValueId, q: ValueId, t1: i64, t2: i64| {
        gemm_no_c(
            c,
            name,
            p,
            q,
            vec![
                ("alpha", Attr::Float(alpha)),
                ("transA", Attr::Int(t1)),
                ("transB", Attr::Int(t2)),
            ],
        )
    };
    if c.need(0) {
        out[0] = Some(if ta == 0 {
            gemm(c, "da", g, b, 0, 1 - tb)?
        } else {
            gemm(c, "da", b, g, tb, 1)?
        });
    }
    if c.need(1) {
        out[1] = Some(if tb == 0 {
            gemm(c, "db", a, g, 1 - ta, 0)?
        } else {
            gemm(c, "db", g, a, 1, ta)?
        });
    }
    if c.need(2) {
        let cs = c.shape(c.x(2)?);
        let gb = if beta == 1.0 { g } else { c.e.scale("g_beta", g, beta)? };
        out[2] = Some(c.e.unbroadcast("dc", gb, &cs)?);
    }
    Ok(out)
}

/// MatMul (batch dimensions broadcast; a 1-D operand is a row (left) or column (right) vector,
/// as numpy's matmul treats it).
pub fn matmul(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let (a0, b0) = (c.x(0)?, c.x(1)?);
    let (sa0, sb0) = (c.shape(a0), c.shape(b0));
    if sa0.is_empty() || sb0.is_empty() {
        return Err(c.err("MatMul operands must have rank >= 1"));
    }
    // Promote 1-D operands to matrices: (K) → (1, K) on the left, (K) → (K, 1) on the right; the
    // output gradient gets the removed axes back.
    let a = if sa0.len() == 1 { c.e.reshape("a_row", a0, &[1, sa0[0]])? } else { a0 };
    let b = if sb0.len() == 1 { c.e.reshape("b_col", b0, &[sb0[0], 1])? } else { b0 };
    let (sa, sb) = (c.shape(a), c.shape(b));
    let g = if sa0.len() == 1 || sb0.len() == 1 {
        let batch = crate::ir::infer::broadcast_shapes(&[&sa[..sa.len() - 2], &sb[..sb.len() - 2]])
            .ok_or_else(|| c.err("batch dimensions do not broadcast"))?;
        let mut full = batch;
        full.push(sa[sa.len() - 2]);
        full.push(sb[sb.len() - 1]);
        c.e.reshape("g_matrix", g, &full)?
    } else {
        g
    };
    let swap = |r: usize| {
        let mut p: Vec<usize> = (0..r).collect();
        p.swap(r - 1, r - 2);
        p
    };
    let mut out = vec![None; 2];
    if c.need(0) {
        let bt = c.e.transpose("b_t", b, &swap(sb.len()))?;
        let d = c.e.op(OpType::MatMul, "da_full", &[g, bt], vec![])?;
        let da = c.e.unbroadcast("da_m", d, &sa)?;
        out[0] = Some(c.e.reshape("da", da, &sa0)?);
    }
    if c.need(1) {
        let d = if sb.len() == 2 && sa.len() > 2 {
            // A linear layer on a batch of sequences: one Gemm over all rows.
            let (k, n) = (sb[0], sb[1]);
            let rows: usize = sa[..sa.len() - 1].iter().product();
            let a2 = c.e.reshape("a_rows", a, &[rows, k])?;
            let g2 = c.e.reshape("g_rows", g, &[rows, n])?;
            gemm_no_c(c, "db", a2, g2, vec![("transA", Attr::Int(1))])?
        } else {
            let at = c.e.transpose("a_t", a, &swap(sa.len()))?;
            let d = c.e.op(OpType::MatMul, "db_full", &[at, g], vec![])?;
            c.e.unbroadcast("db", d, &sb)?
        };
        out[1] = Some(c.e.reshape("db_v", d, &sb0)?);
    }
    Ok(out)
}
