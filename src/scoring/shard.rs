//! Splitting scoring work over machines: shard `K/N` of a list of architectures, by a stable
//! hash of each one's canonical form, so that functionally identical architectures land in one
//! shard and adding architectures does not move the others. Each shard writes its own record
//! file and, beside it, a manifest of what it was asked for, from which `merge` checks coverage.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::space::{Arch, SearchSpace};

/// Shard `index` of `count` (0-based: a job array's index as it comes, `0/4` to `3/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's index, below `count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("'{s}': a shard is K/N with 0 <= K < N, e.g. 0/4 (the first of four)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard an architecture with canonical string `canonical` belongs to: the first eight
    /// bytes of its SHA-256, big-endian, modulo the number of shards.
    pub fn of(canonical: &str, count: usize) -> usize {
        let h = Sha256::digest(canonical.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        (u64::from_be_bytes(first) % count.max(1) as u64) as usize
    }

    /// Whether `arch` of `space` belongs to this shard.
    pub fn owns(&self, space: &SearchSpace, arch: &Arch) -> bool {
        Shard::of(&arch.canonical(space).format(space), self.count) == self.index
    }

    /// This shard's part of `archs`, in their order.
    pub fn select<'a>(&self, space: &SearchSpace, archs: &'a [Arch]) -> Vec<&'a Arch> {
        archs.iter().filter(|a| self.owns(space, a)).collect()
    }
}

/// What one shard was asked to score: written beside its record file before any scoring, so
/// that a shard killed early (or never finished) still says what it owes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The shard.
    pub shard: Shard,
    /// A fingerprint of the whole job before sharding (every protocol key and architecture
    /// string of the list): shards of one job share it, and `merge` refuses to mix jobs.
    pub job: String,
    /// Every (protocol key, architecture string) the shard scores.
    pub requested: Vec<(String, String)>,
}

impl Manifest {
    /// The manifest of shard `shard` of the job that scores `archs` (architecture strings)
    /// under every protocol key of `keys`.
    pub fn new(shard: Shard, keys: &[String], archs: &[String], mine: &[String]) -> Manifest {
        let mut h = Sha256::new();
        for k in keys {
            h.update(k.as_bytes());
            h.update(b"\n");
        }
        h.update(b"\n");
        for a in archs {
            h.update(a.as_bytes());
            h.update(b"\n");
        }
        let job = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        let requested =
            keys.iter().flat_map(|k| mine.iter().map(move |a| (k.clone(), a.clone()))).collect();
        Manifest { shard, job, requested }
    }

    /// The manifest's path for record file `records`: `FILE.manifest.json`.
    pub fn path_for(records: &Path) -> PathBuf {
        let mut name = records.as_os_str().to_owned();
        name.push(".manifest.json");
        PathBuf::from(name)
    }

    /// Writes the manifest beside `records` (whole, then renamed into place), creating the
    /// folder. A record file already holding another shard's manifest (two shards given one
    /// file) or another job's is refused: each shard needs its own file.
    pub fn write(&self, records: &Path) -> Result<()> {
        let path = Manifest::path_for(records);
        let io = |source| Error::Io { path: path.clone(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if let Some(old) = Manifest::read(records)?
            && (old.shard != self.shard || old.job != self.job)
        {
            let what = if old.shard != self.shard {
                format!("shard {}'s", old.shard)
            } else {
                "another job's (a different list or protocol)".to_string()
            };
            return Err(Error::Usage(format!(
                "{}: is {what} record file; give shard {} a file of its own (--out or --cache)",
                records.display(),
                self.shard
            )));
        }
        let text = serde_json::to_string(self)
            .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        let tmp =
            path.with_extension(format!("json.{}-of-{}.tmp", self.shard.index, self.shard.count));
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The manifest beside `records`, if there is one.
    pub fn read(records: &Path) -> Result<Option<Manifest>> {
        let path = Manifest::path_for(records);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::limits::read_text(&path)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Data(format!("{}: not a shard manifest ({e})", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition_stably() {
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // The hash is fixed (Python: int.from_bytes(sha256(s).digest()[:8], "big") % 7): it
        // does not change between versions.
        assert_eq!(Shard::of("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", 7), 1);
        let counts = (0..1000).fold([0usize; 4], |mut c, i| {
            c[Shard::of(&format!("arch{i}"), 4)] += 1;
            c
        });
        assert!(counts.iter().all(|&c| (200..300).contains(&c)), "{counts:?}");
    }
}
