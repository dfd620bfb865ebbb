//! Einsum: the equation parsed once for shape inference and differentiation.

use super::{Ctx, Inferred, unknown};
use crate::error::Result;
use crate::ir::attr::NodeAttrs;

/// A parsed einsum equation: one subscript string per operand and the output's (explicit, or
/// numpy's implicit rule: the letters that occur once, in alphabetical order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equation {
    /// Subscripts of each operand.
    pub inputs: Vec<Vec<char>>,
    /// Subscripts of the output.
    pub output: Vec<char>,
}

impl Equation {
    /// Parses `eq` (spaces ignored); ellipses are refused.
    pub fn parse(eq: &str) -> std::result::Result<Equation, String> {
        let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
        if eq.contains("...") {
            return Err("ellipsis ('...') subscripts are not supported".into());
        }
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (eq.as_str(), None),
        };
        let letters = |s: &str| -> std::result::Result<Vec<char>, String> {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        Ok(c)
                    } else {
                        Err(format!("'{c}' is not a subscript letter"))
                    }
                })
                .collect()
        };
        let inputs: Vec<Vec<char>> =
            lhs.split(',').map(letters).collect::<std::result::Result<_, _>>()?;
        let output = match rhs {
            Some(r) => letters(r)?,
            None => {
                let mut once: Vec<char> = Vec::new();
                let all: Vec<char> = inputs.iter().flatten().copied().collect();
                for &c in &all {
                    if all.iter().filter(|&&d| d == c).count() == 1 {
                        once.push(c);
                    }
                }
                once.sort_unstable();
                once
            }
        };
        for (i, c) in output.iter().enumerate() {
            if output[..i].contains(c) {
                return Err(format!("output subscript '{c}' is repeated"));
            }
            if !inputs.iter().any(|s| s.contains(c)) {
                return Err(format!("output subscript '{c}' is in no operand"));
            }
        }
        Ok(Equation { inputs, output })
    }

    /// The equation as text (`ab,bc->ac`).
    pub fn text(inputs: &[&[char]], output: &[char]) -> String {
        let ins: Vec<String> = inputs.iter().map(|s| s.iter().collect()).collect();
        format!("{}->{}", ins.join(","), output.iter().collect::<String>())
    }
}

/// Einsum.
pub fn einsum(ctx: &Ctx) -> Result<Vec<Inferred>> {
    let eq = Equation::parse(ctx.attr_str("equation", "")?)
        .map_err(|r| ctx.attr_error("equation", r))?;
    if eq.inputs.len() != ctx.n_inputs() {
        return Err(ctx.attr_error(
            "equation",
            format!("names {} operands, the node has {}", eq.inputs.len(), ctx.n_inputs()),
        ));
    }
    let mut dims: Vec<(char, usize)> = Vec::new();
    let dtype = ctx.ty(0)?.dtype;
    for (i, subs) in eq.inputs.iter().enumerate() {
        let t = ctx.ty(i)?;
        if t.rank() != subs.len() {
            return Err(ctx.err(format!(
                "operand {i} has rank {} but {} subscripts",
                t.rank(),
                subs.len()
            )));
        }
        for (&c, &d) in subs.iter().zip(&t.shape) {
            match dims.iter().find(|(k, _)| *k == c) {
                Some(&(_, e)) if e != d => {
                    return Err(
                        ctx.err(format!("subscript '{c}' is {e} in one place, {d} in another"))
                    );
                }
                Some(_) => {}
                None => dims.push((c, d)),
            }
        }
    }
    let shape = eq
        .output
        .iter()
        .map(|c| dims.iter().find(|(k, _)| k == c).map(|&(_, d)| d).unwrap_or(1))
        .collect();
    Ok(vec![unknown(dtype, shape)])
}

#[cfg(test)]
mod tests {
    use super::Equation;

    #[test]
    fn parses_explicit_implicit_and_spaced_equations() {
        let e = Equation::parse("B G H I D, B G H J D -> B G H I J").expect("parse");
        assert_eq!(e.inputs.len(), 2);
        assert_eq!(e.output, vec!['B', 'G', 'H', 'I', 'J']);
        assert_eq!(Equation::parse("ij,jk").expect("implicit").output, vec!['i', 'k']);
        assert!(Equation::parse("...ij,jk->...ik").is_err());
        assert!(Equation::parse("ij,jk->ii").is_err());
        assert!(Equation::parse("ij,jk->iz").is_err());
    }
}
