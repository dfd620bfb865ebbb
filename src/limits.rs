//! Resource limits on what intrain reads and builds, so that a hostile or mistyped input fails
//! at once with an error naming the limit and the flag that raises it, instead of exhausting
//! memory or running for hours.
//!
//! The limits are a process-wide setting, like the rlimits they stand in front of: the CLI
//! installs them once from its flags ([`Limits::install`]); a library user who never installs
//! any gets [`Limits::DEFAULT`]. Every reader and builder asks [`Limits::current`].

use std::io::Read;
use std::path::Path;
use std::sync::RwLock;

use crate::error::{Error, Result};
use crate::ir::memory::MemoryEstimate;
use crate::ir::{DType, Graph};

/// The limits. Each field names the CLI flag that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one file read whole: a model, a space, a policy, a record or history file, an
    /// array (`--max-file-bytes`).
    pub file_bytes: u64,
    /// Nodes of one graph: a model's, or an architecture's as lowered (`--max-graph-nodes`).
    pub graph_nodes: usize,
    /// Bytes of one tensor: a weight, or an activation at the batch asked for
    /// (`--max-tensor-bytes`).
    pub tensor_bytes: u64,
    /// Bytes of all the weights of one graph (`--max-weight-bytes`).
    pub weight_bytes: u64,
    /// Nodes of a searched cell, its input and output included (`--max-cell-nodes`); the cell
    /// has `n(n-1)/2` edges.
    pub cell_nodes: usize,
    /// Cells, or chain blocks, of one network over all its stages (`--max-blocks`).
    pub blocks: usize,
    /// Architectures one command may lower to describe or sample a space (`--max-archs`).
    pub archs: u64,
    /// Estimated peak memory of one run of a graph on ONNX Runtime (`--max-memory`); `None`:
    /// the memory the machine (or the process's cgroup) has available when the run starts.
    pub memory_bytes: Option<u64>,
    /// Follow symbolic links and hard links of external-data files, and let them resolve
    /// outside the model's folder (`--follow-external-links`). Off: such files are refused, as
    /// the ONNX project's own loader does.
    pub follow_external_links: bool,
}

const GIB: u64 = 1 << 30;

impl Limits {
    /// The limits when none are installed: well above every model and space seen in practice
    /// (ImageNet CNNs at batch 256, NAS-Bench-201, DARTS and MobileNet spaces), far below what
    /// exhausts a 16 GB machine by accident.
    pub const DEFAULT: Limits = Limits {
        file_bytes: 2 * GIB,
        graph_nodes: 200_000,
        tensor_bytes: 8 * GIB,
        weight_bytes: 16 * GIB,
        cell_nodes: 16,
        blocks: 1_000,
        archs: 1_000_000,
        memory_bytes: None,
        follow_external_links: false,
    };

    /// The limits in force in this process.
    pub fn current() -> Limits {
        *LIMITS.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `self` in force for the whole process.
    pub fn install(self) {
        *LIMITS.write().unwrap_or_else(|e| e.into_inner()) = self;
    }

    /// The bytes of a tensor of `dtype` and `shape`; an error naming it (`what()`, computed only
    /// then) when they are over [`Limits::tensor_bytes`].
    pub fn check_tensor(
        &self,
        what: impl FnOnce() -> String,
        dtype: DType,
        shape: &[usize],
    ) -> Result<u64> {
        let bytes = tensor_bytes(dtype, shape);
        if bytes.is_none_or(|b| b > self.tensor_bytes) {
            return Err(over(
                format!("{}: {shape:?} {} takes {}", what(), dtype.name(), show(bytes)),
                &human_bytes(self.tensor_bytes),
                "max-tensor-bytes",
            ));
        }
        Ok(bytes.unwrap_or(u64::MAX))
    }

    /// Fails if weights totalling `bytes`, the last being `what()`, are over
    /// [`Limits::weight_bytes`].
    pub fn check_weights(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
        if bytes > self.weight_bytes {
            return Err(over(
                format!("the weights take {} with {}", human_bytes(bytes), what()),
                &human_bytes(self.weight_bytes),
                "max-weight-bytes",
            ));
        }
        Ok(())
    }

    /// Fails if a graph of `nodes` nodes is over [`Limits::graph_nodes`].
    pub fn check_nodes(&self, nodes: usize) -> Result<()> {
        if nodes > self.graph_nodes {
            return Err(over(
                format!("the graph has {nodes} nodes"),
                &self.graph_nodes.to_string(),
                "max-graph-nodes",
            ));
        }
        Ok(())
    }

    /// Checks a built graph: its node count, and every value's bytes (activations at the
    /// graph's batch, weights).
    pub fn check_graph(&self, g: &Graph) -> Result<()> {
        self.check_nodes(g.nodes().len())?;
        for v in g.values() {
            self.check_tensor(|| format!("value '{}'", v.name), v.ty.dtype, &v.ty.shape)?;
        }
        Ok(())
    }

    /// Fails, before a session is made, if the estimated peak memory of one run of `g` is over
    /// its share of the memory budget: [`Limits::memory_bytes`], or, unset, the memory that was
    /// available when this process first checked (ONNX Runtime's arena keeps what a run freed
    /// for the next, so what is available later understates what a run can have), divided
    /// between the `share` sessions that run at once. The error names the estimate's parts and
    /// the batch that would fit. Nothing is checked when neither a limit nor the available
    /// memory is known.
    pub fn check_memory(&self, g: &Graph, share: usize) -> Result<MemoryEstimate> {
        let est = crate::ir::memory::estimate(g);
        let (budget, what) = match self.memory_bytes {
            Some(b) => (b, human_bytes(b)),
            None => match available_at_first_check() {
                Some(b) => (b, format!("{} available", human_bytes(b))),
                None => return Ok(est),
            },
        };
        let share = share.max(1);
        let (limit, what) = if share > 1 {
            let limit = budget / share as u64;
            (limit, format!("{} ({what} for {share} jobs)", human_bytes(limit)))
        } else {
            (budget, what)
        };
        if est.total() > limit {
            let hint = match (est.batch, est.batch_within(limit)) {
                (Some(b), Some(f)) if b > 1 => format!("; about batch {f} would fit (--batch {f})"),
                (Some(b), None) if b > 1 => "; not even batch 1 would fit".to_string(),
                _ => String::new(),
            };
            return Err(Error::OverMemory {
                what: format!(
                    "one run needs about {} at its peak (weights and constants {}, {} of tensors alive at node '{}'{})",
                    human_bytes(est.total()),
                    human_bytes(est.constant_bytes),
                    human_bytes(est.peak_tensor_bytes),
                    est.peak_node,
                    est.batch.map(|b| format!(" at batch {b}")).unwrap_or_default(),
                ),
                limit: what,
                hint,
            });
        }
        Ok(est)
    }

    /// Fails if lowering `count` architectures is over [`Limits::archs`].
    pub fn check_archs(&self, what: &str, count: u64) -> Result<()> {
        if count > self.archs {
            return Err(over(
                format!("{what} lowers {count} architectures"),
                &self.archs.to_string(),
                "max-archs",
            ));
        }
        Ok(())
    }
}

static LIMITS: RwLock<Limits> = RwLock::new(Limits::DEFAULT);

/// [`available_memory`] the first time it is asked in this process (later calls return that).
fn available_at_first_check() -> Option<u64> {
    static FIRST: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *FIRST.get_or_init(available_memory)
}

/// The memory this process may still take: the system's available memory (`MemAvailable`),
/// lowered to what the process's memory cgroup and its parents allow beyond their current use
/// (reclaimable file cache not counted as used); `None` where neither is readable (not Linux).
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    match (meminfo, cgroup_headroom()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The least headroom (`memory.max` − `memory.current` + `inactive_file`) over the process's
/// cgroup v2 and its parents, as Kubernetes and Slurm set them; for cgroup v1, the memory
/// controller's group. `None` where no limit is set or readable.
fn cgroup_headroom() -> Option<u64> {
    let read = |p: &std::path::Path| std::fs::read_to_string(p).ok();
    let number = |p: &std::path::Path| read(p)?.trim().parse::<u64>().ok();
    let inactive_file = |dir: &std::path::Path, key: &str| {
        read(&dir.join("memory.stat"))?.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    let groups = read(std::path::Path::new("/proc/self/cgroup"))?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut best: Option<u64> = None;
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (base, files) = match controllers {
            "" => (root.to_path_buf(), ("memory.max", "memory.current", "inactive_file")),
            c if c.split(',').any(|c| c == "memory") => (
                root.join("memory"),
                ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
            ),
            _ => continue,
        };
        // The group and each parent up to the mount's root (a group seen from inside a
        // namespace is its root).
        let mut dir = base.join(path.trim_start_matches('/'));
        loop {
            if let (Some(max), Some(cur)) = (number(&dir.join(files.0)), number(&dir.join(files.1)))
            {
                let used = cur.saturating_sub(inactive_file(&dir, files.2).unwrap_or(0));
                let room = max.saturating_sub(used);
                best = Some(best.map_or(room, |b| b.min(room)));
            }
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    best
}

/// Bytes of a tensor, `None` when the count overflows.
pub fn tensor_bytes(dtype: DType, shape: &[usize]) -> Option<u64> {
    shape.iter().try_fold(dtype.size_of() as u64, |acc, &d| acc.checked_mul(d as u64))
}

/// The error for `what` over a limit of `max`, set by `--{flag}`.
pub fn over(what: String, max: &str, flag: &'static str) -> Error {
    Error::Limit { what, max: max.to_string(), flag }
}

fn show(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "more than 2^64 bytes".into(), human_bytes)
}

/// Bytes for people: `8 GiB`, `1.5 MiB`, `512 bytes`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} bytes");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v.fract() == 0.0 { 0 } else { 1 };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// Reads a whole file named by the user (a model, a space, a policy, an array), refusing one
/// longer than [`Limits::file_bytes`] before it is all in memory. Devices and pipes are read
/// up to the same bound (`/dev/zero` fails at the limit, not out of memory).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        });
    }
    read_bounded(file, || format!("{}: the file is longer than the limit", path.display()))?
        .map_err(io)
}

/// Everything `reader` gives, up to [`Limits::file_bytes`]: an error naming `what()` when there
/// is more (read no further than one byte past the limit); the reader's own error inside.
pub fn read_bounded(
    reader: impl Read,
    what: impl FnOnce() -> String,
) -> Result<std::io::Result<Vec<u8>>> {
    let max = Limits::current().file_bytes;
    let mut bytes = Vec::new();
    if let Err(e) = reader.take(max.saturating_add(1)).read_to_end(&mut bytes) {
        return Ok(Err(e));
    }
    if bytes.len() as u64 > max {
        return Err(over(what(), &human_bytes(max), "max-file-bytes"));
    }
    Ok(Ok(bytes))
}

/// [`read_file`] for a UTF-8 text file.
pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_file(path)?).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_for_people() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(8 * GIB), "8 GiB");
        assert_eq!(human_bytes(3 * (1 << 19)), "1.5 MiB");
    }

    #[test]
    fn tensor_sizes_overflow_to_none() {
        assert_eq!(tensor_bytes(DType::F32, &[2, 3]), Some(24));
        assert_eq!(tensor_bytes(DType::F32, &[usize::MAX, 2]), None);
        let e =
            Limits::DEFAULT.check_tensor(|| "w".into(), DType::F32, &[1 << 40]).expect_err("4 TiB");
        assert!(e.to_string().contains("--max-tensor-bytes"), "{e}");
    }
}
