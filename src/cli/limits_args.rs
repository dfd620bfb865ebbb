//! The resource-limit flags every command takes, installed before it runs.

use clap::Args;

use intrain::limits::Limits;

/// Limits on what intrain reads and builds; a hostile or mistyped input over one fails at once,
/// naming the flag that raises it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Largest file read whole (a model, a space, a policy, a record file, an array); sizes like
    /// 512MiB, 2GiB or 3G.
    #[arg(long, global = true, value_name = "BYTES", default_value = "2GiB", value_parser = parse_bytes)]
    max_file_bytes: u64,
    /// Most nodes of one graph (a model's, or a space's architecture as built).
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::DEFAULT.graph_nodes)]
    max_graph_nodes: usize,
    /// Largest tensor: one weight, or one activation at the batch asked for.
    #[arg(long, global = true, value_name = "BYTES", default_value = "8GiB", value_parser = parse_bytes)]
    max_tensor_bytes: u64,
    /// Largest total of a graph's weights.
    #[arg(long, global = true, value_name = "BYTES", default_value = "16GiB", value_parser = parse_bytes)]
    max_weight_bytes: u64,
    /// Most nodes of a space's cell, input and output included (n nodes make n(n-1)/2 edges).
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::DEFAULT.cell_nodes)]
    max_cell_nodes: usize,
    /// Most cells, or chain blocks, of one network of a space.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::DEFAULT.blocks)]
    max_blocks: usize,
    /// Most architectures one command builds to describe or sample a space.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::DEFAULT.archs)]
    max_archs: u64,
    /// Largest estimated peak memory of one run on ONNX Runtime (weights, inputs, the tensors
    /// alive at once, the outputs), checked before the session is made so that a network that
    /// cannot fit is refused at once with the batch that would; `available` (the default): the
    /// memory the machine, or the process's cgroup, has available when the run starts.
    #[arg(long, global = true, value_name = "BYTES|available", default_value = "available", value_parser = parse_memory)]
    max_memory: MemoryLimit,
    /// Read external-data files that are symbolic or hard links, or resolve outside the model's
    /// folder (refused by default: a model from elsewhere could name any file on the machine).
    #[arg(long, global = true)]
    follow_external_links: bool,
}

impl LimitArgs {
    /// Puts the limits in force for this process.
    pub fn install(&self) {
        Limits {
            file_bytes: self.max_file_bytes,
            graph_nodes: self.max_graph_nodes,
            tensor_bytes: self.max_tensor_bytes,
            weight_bytes: self.max_weight_bytes,
            cell_nodes: self.max_cell_nodes,
            blocks: self.max_blocks,
            archs: self.max_archs,
            memory_bytes: self.max_memory.0,
            follow_external_links: self.follow_external_links,
        }
        .install();
    }
}

/// `--max-memory`: a size, or `None` for the memory available at each run.
#[derive(Debug, Clone, Copy)]
struct MemoryLimit(Option<u64>);

fn parse_memory(s: &str) -> Result<MemoryLimit, String> {
    if s.trim().eq_ignore_ascii_case("available") {
        return Ok(MemoryLimit(None));
    }
    parse_bytes(s).map(|b| MemoryLimit(Some(b)))
}

/// Bytes as people write them: `4096`, `512MiB`, `2GiB` (powers of 1024), `3G`, `1.5M` (powers
/// of 1000).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), &t[split..]);
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{s}' is not a size like 4096, 512MiB, 2GiB or 3G")),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * mult < u64::MAX as f64 => Ok((v * mult) as u64),
        _ => Err(format!("'{s}' is not a size like 4096, 512MiB, 2GiB or 3G")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("3G"), Ok(3_000_000_000));
        assert_eq!(parse_bytes("1.5MiB"), Ok(3 << 19));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1G").is_err());
    }

    #[test]
    fn the_defaults_are_the_library_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Probe {
            #[command(flatten)]
            limits: LimitArgs,
        }
        let p = Probe::parse_from(["probe"]);
        p.limits.install();
        assert_eq!(Limits::current(), Limits::DEFAULT);
    }
}
