//! Gemm and MatMul.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::{Attr, OpType, ValueId};

/// Gemm: Y = alpha·op(A)·op(B) + beta·C.
pub fn gemm(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let (a, b) = (c.x(0)?, c.x(1)?);
    let (ta, tb) = (c.int("transA", 0), c.int("transB", 0));
    let (alpha, beta) = (c.float("alpha", 1.0), c.float("beta", 1.0));
    let mut out = vec![None; c.inputs.len()];
    let gemm = |c: &mut RuleCtx, name: &str, p: ValueId, q: ValueId, t1: i64, t2: i64| {
        c.e.op(
            OpType::Gemm,
            name,
            &[p, q],
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

/// MatMul (both operands of rank >= 2, batch dimensions broadcast).
pub fn matmul(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let (a, b) = (c.x(0)?, c.x(1)?);
    let (sa, sb) = (c.shape(a), c.shape(b));
    if sa.len() < 2 || sb.len() < 2 {
        return Err(c.err("1-D MatMul operands are not supported"));
    }
    let swap = |r: usize| {
        let mut p: Vec<usize> = (0..r).collect();
        p.swap(r - 1, r - 2);
        p
    };
    let mut out = vec![None; 2];
    if c.need(0) {
        let bt = c.e.transpose("b_t", b, &swap(sb.len()))?;
        let d = c.e.op(OpType::MatMul, "da_full", &[g, bt], vec![])?;
        out[0] = Some(c.e.unbroadcast("da", d, &sa)?);
    }
    if c.need(1) {
        let d = if sb.len() == 2 && sa.len() > 2 {
            // A linear layer on a batch of sequences: one Gemm over all rows.
            let (k, n) = (sb[0], sb[1]);
            let rows: usize = sa[..sa.len() - 1].iter().product();
            let a2 = c.e.reshape("a_rows", a, &[rows, k])?;
            let g2 = c.e.reshape("g_rows", g, &[rows, n])?;
            c.e.op(OpType::Gemm, "db", &[a2, g2], vec![("transA", Attr::Int(1))])?
        } else {
            let at = c.e.transpose("a_t", a, &swap(sa.len()))?;
            let d = c.e.op(OpType::MatMul, "db_full", &[at, g], vec![])?;
            c.e.unbroadcast("db", d, &sb)?
        };
        out[1] = Some(d);
    }
    Ok(out)
}
