//! Architectures of chain spaces: the string form, enumeration, sampling, mutation.
//!
//! String form: stages joined by `|`; a stage is an optional width `w24:` (present exactly when
//! the stage has a width choice) then its blocks joined by `,` (their number is the depth); a
//! block is its op's name followed by one `-token` per list-valued field of the op, in the order
//! kernel (`k5`), expansion (`e6`), activation (`relu6`, `hswish`, ...), squeeze-excitation
//! (`se` / `nose`). Example: `mb1-k3|w24:mb-k3-e6,mb-k5-e4|...`.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::chain::{ChainStage, Dim, dims};
use super::{BlockArch, ChainArch, SearchSpace, StageArch};
use crate::error::{Error, Result};

fn block_string(st: &ChainStage, b: &BlockArch) -> String {
    let Some((name, op)) = st.ops.get(b.op) else { return "?".into() };
    let mut s = name.clone();
    for (i, d) in dims(op).iter().enumerate() {
        if d.len() > 1 {
            s.push('-');
            s.push_str(&d.token(b.choices.get(i).copied().unwrap_or(0).min(d.len() - 1)));
        }
    }
    s
}

/// The string form.
pub(super) fn format(a: &ChainArch, space: &SearchSpace) -> String {
    let stages: Vec<String> = space
        .chain_stages()
        .iter()
        .zip(&a.stages)
        .map(|(st, sa)| {
            let blocks: Vec<String> = sa.blocks.iter().map(|b| block_string(st, b)).collect();
            let blocks = blocks.join(",");
            match st.widths.len() {
                1 => blocks,
                _ => format!("w{}:{blocks}", st.widths.get(sa.width).copied().unwrap_or(0)),
            }
        })
        .collect();
    stages.join("|")
}

fn list(v: &[usize]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

fn parse_block(st: &ChainStage, t: &str) -> std::result::Result<BlockArch, String> {
    let mut parts = t.split('-');
    let name = parts.next().unwrap_or("");
    let names: Vec<&str> = st.ops.iter().map(|(n, _)| n.as_str()).collect();
    let op = names
        .iter()
        .position(|&n| n == name)
        .ok_or_else(|| format!("'{name}' is not an op of this stage ({})", names.join(", ")))?;
    let ds = st.dims(op);
    let multi: Vec<(usize, &Dim)> = ds.iter().enumerate().filter(|(_, d)| d.len() > 1).collect();
    let rest: Vec<&str> = parts.collect();
    if rest.len() != multi.len() {
        let want: Vec<&str> = multi.iter().map(|(_, d)| d.name()).collect();
        return Err(format!(
            "op '{name}' takes {} choice token(s) ({}), found {}",
            multi.len(),
            if want.is_empty() { "none".to_string() } else { want.join(", ") },
            rest.len()
        ));
    }
    let mut choices = vec![0; ds.len()];
    for ((i, d), tok) in multi.iter().zip(rest) {
        let tokens = d.tokens();
        choices[*i] = tokens.iter().position(|x| x == tok).ok_or_else(|| {
            format!("'{tok}' is not a {} option of '{name}' ({})", d.name(), tokens.join(", "))
        })?;
    }
    Ok(BlockArch { op, choices })
}

/// Parses the string form; errors name the stage, block and offending token.
pub(super) fn parse(space: &SearchSpace, s: &str) -> Result<ChainArch> {
    let bad = |why: String| Error::ArchString(format!("arch: {why}"));
    let stages = space.chain_stages();
    let groups: Vec<&str> = s.trim().split('|').collect();
    if groups.len() != stages.len() {
        return Err(bad(format!(
            "expected {} stages separated by '|', found {}",
            stages.len(),
            groups.len()
        )));
    }
    let mut out = Vec::with_capacity(stages.len());
    for (k, (g, st)) in groups.iter().zip(stages).enumerate() {
        let n = k + 1;
        let (width, body) = match g.split_once(':') {
            Some((w, body)) => {
                let c =
                    w.strip_prefix('w').and_then(|c| c.parse::<usize>().ok()).ok_or_else(|| {
                        bad(format!("stage {n}: '{w}' is not a width token like 'w24'"))
                    })?;
                if st.widths.len() == 1 {
                    return Err(bad(format!(
                        "stage {n}: its width is fixed ({}), so the string names none: drop '{w}:'",
                        st.widths[0]
                    )));
                }
                let i = st.widths.iter().position(|&x| x == c).ok_or_else(|| {
                    bad(format!("stage {n}: width '{w}' is not an option ({})", list(&st.widths)))
                })?;
                (i, body)
            }
            None if st.widths.len() > 1 => {
                return Err(bad(format!(
                    "stage {n}: '{g}' lacks its width, e.g. 'w{}:' before the blocks",
                    st.widths[0]
                )));
            }
            None => (0, *g),
        };
        let toks: Vec<&str> = body.split(',').collect();
        if !st.depths.contains(&toks.len()) {
            return Err(bad(format!(
                "stage {n}: {} block(s), but its depth is one of {}",
                toks.len(),
                list(&st.depths)
            )));
        }
        let mut blocks = Vec::with_capacity(toks.len());
        for (j, t) in toks.iter().enumerate() {
            blocks.push(
                parse_block(st, t).map_err(|why| bad(format!("stage {n}, block {j}: {why}")))?,
            );
        }
        out.push(StageArch { width, blocks });
    }
    Ok(ChainArch { stages: out })
}

fn decode_block(st: &ChainStage, mut b: u64) -> BlockArch {
    for op in 0..st.ops.len() {
        let n = st.op_options(op);
        if b < n {
            let choices = st
                .dims(op)
                .iter()
                .map(|d| {
                    let len = d.len() as u64;
                    let c = b % len;
                    b /= len;
                    c as usize
                })
                .collect();
            return BlockArch { op, choices };
        }
        b -= n;
    }
    BlockArch { op: 0, choices: vec![0; st.dims(0).len()] }
}

fn decode_stage(st: &ChainStage, mut i: u64) -> StageArch {
    let w = st.widths.len() as u64;
    let width = (i % w) as usize;
    i /= w;
    let b = st.block_options();
    let mut blocks = Vec::new();
    for &d in &st.depths {
        let count = b.saturating_pow(d as u32);
        if i < count {
            blocks = (0..d)
                .map(|_| {
                    let x = i % b;
                    i /= b;
                    decode_block(st, x)
                })
                .collect();
            break;
        }
        i -= count;
    }
    StageArch { width, blocks }
}

/// The architecture with enumeration index `index`: mixed radix over the stages (the first
/// varies fastest); within a stage the width, then the depth (in listed order), then the blocks.
pub(super) fn from_index(space: &SearchSpace, mut index: u64) -> Option<ChainArch> {
    if index >= space.size()? {
        return None;
    }
    let mut stages = Vec::new();
    for st in space.chain_stages() {
        let n = st.size()?;
        stages.push(decode_stage(st, index % n));
        index /= n;
    }
    Some(ChainArch { stages })
}

fn sample_block(st: &ChainStage, rng: &mut ChaCha8Rng) -> BlockArch {
    let op = rng.random_range(0..st.ops.len());
    let choices = st.dims(op).iter().map(|d| rng.random_range(0..d.len())).collect();
    BlockArch { op, choices }
}

/// Every choice uniform and independent: width, depth, then each block's op and options.
pub(super) fn sample(space: &SearchSpace, rng: &mut ChaCha8Rng) -> ChainArch {
    let stages = space
        .chain_stages()
        .iter()
        .map(|st| {
            let width = rng.random_range(0..st.widths.len());
            let depth = st.depths[rng.random_range(0..st.depths.len())];
            let blocks = (0..depth).map(|_| sample_block(st, rng)).collect();
            StageArch { width, blocks }
        })
        .collect();
    ChainArch { stages }
}

#[derive(Clone, Copy)]
enum Slot {
    Width(usize),
    Depth(usize),
    Op(usize, usize),
    Choice(usize, usize, usize),
}

/// A different option among `n`, drawn uniformly.
fn other(old: usize, n: usize, rng: &mut ChaCha8Rng) -> usize {
    (old + rng.random_range(1..n)) % n
}

/// One choice changed (see [`super::Arch::mutate`]).
pub(super) fn mutate(a: &ChainArch, space: &SearchSpace, rng: &mut ChaCha8Rng) -> ChainArch {
    let stages = space.chain_stages();
    let mut slots = Vec::new();
    for (k, (st, sa)) in stages.iter().zip(&a.stages).enumerate() {
        if st.widths.len() > 1 {
            slots.push(Slot::Width(k));
        }
        if st.depths.len() > 1 {
            slots.push(Slot::Depth(k));
        }
        for (j, b) in sa.blocks.iter().enumerate() {
            if st.ops.len() > 1 {
                slots.push(Slot::Op(k, j));
            }
            if b.op < st.ops.len() {
                for (i, d) in st.dims(b.op).iter().enumerate() {
                    if d.len() > 1 {
                        slots.push(Slot::Choice(k, j, i));
                    }
                }
            }
        }
    }
    let mut m = a.clone();
    if slots.is_empty() {
        return m;
    }
    match slots[rng.random_range(0..slots.len())] {
        Slot::Width(k) => {
            let sa = &mut m.stages[k];
            sa.width = other(sa.width, stages[k].widths.len(), rng);
        }
        Slot::Depth(k) => {
            let st = &stages[k];
            let sa = &mut m.stages[k];
            let cur = st.depths.iter().position(|&d| d == sa.blocks.len()).unwrap_or(0);
            let depth = st.depths[other(cur, st.depths.len(), rng)];
            let last = sa
                .blocks
                .last()
                .cloned()
                .unwrap_or_else(|| BlockArch { op: 0, choices: vec![0; st.dims(0).len()] });
            sa.blocks.resize(depth, last);
        }
        Slot::Op(k, j) => {
            let st = &stages[k];
            let b = &mut m.stages[k].blocks[j];
            b.op = other(b.op, st.ops.len(), rng);
            b.choices = vec![0; st.dims(b.op).len()];
        }
        Slot::Choice(k, j, i) => {
            let st = &stages[k];
            let b = &mut m.stages[k].blocks[j];
            let n = st.dims(b.op)[i].len();
            if let Some(c) = b.choices.get_mut(i) {
                *c = other(*c, n, rng);
            }
        }
    }
    m
}

/// Checks that `a` is an architecture of the chain space.
pub(super) fn check(a: &ChainArch, space: &SearchSpace) -> Result<()> {
    let bad = |why: String| {
        Error::ArchString(format!(
            "architecture is not in chain space '{}': {why}",
            space.spec.name
        ))
    };
    let stages = space.chain_stages();
    if a.stages.len() != stages.len() {
        return Err(bad(format!("it has {} stages, the space {}", a.stages.len(), stages.len())));
    }
    for (k, (st, sa)) in stages.iter().zip(&a.stages).enumerate() {
        if sa.width >= st.widths.len() || !st.depths.contains(&sa.blocks.len()) {
            return Err(bad(format!("stage {}: width or depth out of range", k + 1)));
        }
        for (j, b) in sa.blocks.iter().enumerate() {
            let ok = b.op < st.ops.len() && {
                let ds = st.dims(b.op);
                ds.len() == b.choices.len() && ds.iter().zip(&b.choices).all(|(d, &c)| c < d.len())
            };
            if !ok {
                return Err(bad(format!("stage {}, block {j}: choice out of range", k + 1)));
            }
        }
    }
    Ok(())
}
