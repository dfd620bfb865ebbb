//! Einsum of two operands: each operand's gradient is another einsum of the output gradient with
//! the other operand, `dA = einsum("O,B->A")`, `dB = einsum("A,O->B")`.

use super::RuleCtx;
use crate::error::Result;
use crate::ir::infer::einsum::Equation;
use crate::ir::{Attr, NodeAttrs, OpType, ValueId};

/// Einsum (two operands; no subscript repeated within an operand or occurring in one operand
/// only, which covers batched matrix products such as attention's).
pub fn einsum(c: &mut RuleCtx) -> Result<Vec<Option<ValueId>>> {
    let g = c.g()?;
    let text = c.attr_str("equation", "")?.to_string();
    if text.is_empty() {
        return Err(c.err("no equation"));
    }
    let eq = Equation::parse(&text).map_err(|r| c.err(r))?;
    if eq.inputs.len() != 2 {
        return Err(c.err(format!("only two-operand einsums are differentiated ({text})")));
    }
    let (a, b) = (&eq.inputs[0], &eq.inputs[1]);
    for (s, other, which) in [(a, b, 0), (b, a, 1)] {
        for (i, ch) in s.iter().enumerate() {
            if s[..i].contains(ch) {
                return Err(c.err(format!("operand {which} repeats subscript '{ch}' ({text})")));
            }
            if !other.contains(ch) && !eq.output.contains(ch) {
                return Err(c.err(format!(
                    "subscript '{ch}' occurs in operand {which} only, summed there ({text})"
                )));
            }
        }
    }
    let (x0, x1) = (c.x(0)?, c.x(1)?);
    let mut out = vec![None; 2];
    let emit = |c: &mut RuleCtx, name: &str, p: ValueId, q: ValueId, eqn: String| {
        c.e.op(OpType::Einsum, name, &[p, q], vec![("equation", Attr::String(eqn))])
    };
    if c.need(0) {
        out[0] = Some(emit(c, "da", g, x1, Equation::text(&[&eq.output, b], a))?);
    }
    if c.need(1) {
        out[1] = Some(emit(c, "db", x0, g, Equation::text(&[a, &eq.output], b))?);
    }
    Ok(out)
}
