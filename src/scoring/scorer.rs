//! The cached scorer: scores of space architectures through an optional record file, with
//! ONNX Runtime loaded only when something must be scored.

use super::passes::{Computed, evaluate};
use super::{PassOverrides, Protocol, Proxy, RecordFile, ScoreRecord, Target, score, space_id};
use crate::error::Result;
use crate::runtime::Runtime;
use crate::space::{Arch, SearchSpace};

/// Loads ONNX Runtime on first use.
pub type RuntimeLoader<'a> = Box<dyn FnMut() -> Result<Runtime> + 'a>;

/// Scores architectures of spaces under protocols, reading each score from the record file when
/// it is there and appending (and flushing) it otherwise.
pub struct Scorer<'a> {
    load_runtime: RuntimeLoader<'a>,
    runtime: Option<Runtime>,
    records: Option<RecordFile>,
    proxies: Vec<Proxy>,
    images: Option<crate::images::Images>,
    scored: usize,
    reused: usize,
}

impl<'a> Scorer<'a> {
    /// A scorer with an optional record file; `load_runtime` runs once, at the first score that
    /// is not in the file.
    pub fn new(load_runtime: RuntimeLoader<'a>, records: Option<RecordFile>) -> Scorer<'a> {
        Scorer {
            load_runtime,
            runtime: None,
            records,
            proxies: Vec::new(),
            images: None,
            scored: 0,
            reused: 0,
        }
    }

    /// Also computes these proxies (those with passes of their own, and the components of rank
    /// aggregates; see [`super::passes::plan`]) for every architecture, and for records that
    /// lack them.
    pub fn with_proxies(mut self, proxies: &[Proxy]) -> Scorer<'a> {
        let mut own: Vec<Proxy> = Vec::new();
        for p in proxies.iter().flat_map(|p| p.scored()).filter(|p| p.pass().is_some()) {
            if !own.contains(&p) {
                own.push(p);
            }
        }
        self.proxies = own;
        self
    }

    /// A scorer on an already loaded runtime.
    pub fn with_runtime(runtime: Runtime, records: Option<RecordFile>) -> Scorer<'a> {
        let mut s = Scorer::new(Box::new(|| Err(not_loaded())), records);
        s.runtime = Some(runtime);
        s
    }

    /// The runtime, loading it if needed.
    pub fn runtime(&mut self) -> Result<&Runtime> {
        if self.runtime.is_none() {
            self.runtime = Some((self.load_runtime)()?);
        }
        self.runtime.as_ref().ok_or_else(not_loaded)
    }

    /// The record of `arch` under `p`: from the record file when there (with the proxies it
    /// lacks computed and the completed record appended), else scored (and appended).
    pub fn get_or_score(
        &mut self,
        space: &SearchSpace,
        arch: &Arch,
        p: &Protocol,
    ) -> Result<ScoreRecord> {
        let key = p.key(&space_id(space), space.spec.input.resolution);
        let name = arch.format(space);
        let r = match self.records.as_ref().and_then(|f| f.get(&key, &name)) {
            Some(r) => {
                let mut r = r.clone();
                let missing: Vec<Proxy> = self
                    .proxies
                    .iter()
                    .copied()
                    .filter(|x| !r.proxies.contains_key(x.name()))
                    .collect();
                if missing.is_empty() {
                    self.reused += 1;
                    return Ok(r);
                }
                r.proxies.extend(self.compute(space, arch, p, &missing)?.recorded());
                r
            }
            None => self.score(space, arch, p)?,
        };
        if let Some(f) = self.records.as_mut() {
            f.append(r.clone())?;
        }
        Ok(r)
    }

    /// Scores `arch` under `p` with the scorer's proxies (without looking in the record file,
    /// nor appending to it).
    pub fn score(&mut self, space: &SearchSpace, arch: &Arch, p: &Protocol) -> Result<ScoreRecord> {
        let key = p.key(&space_id(space), space.spec.input.resolution);
        let target = Target::Arch { space, arch };
        let mut out = score(self.runtime()?, target, p, &PassOverrides::default())?;
        if !self.proxies.is_empty() {
            let proxies = self.proxies.clone();
            out.add(self.compute(space, arch, p, &proxies)?);
        } else {
            self.scored += 1;
        }
        let name = arch.format(space);
        out.record(key).ok_or_else(|| {
            crate::error::Error::Protocol(format!("architecture {name}: no costs recorded"))
        })
    }

    /// Computes `proxies` for `arch` through their passes (the images of `p` read once per file).
    fn compute(
        &mut self,
        space: &SearchSpace,
        arch: &Arch,
        p: &Protocol,
        proxies: &[Proxy],
    ) -> Result<Computed> {
        if let Some(path) = &p.images
            && self.images.as_ref().is_none_or(|i| i.path != *path)
        {
            self.images = Some(crate::images::Images::open(path)?);
        }
        self.runtime()?;
        let rt = self.runtime.as_ref().ok_or_else(not_loaded)?;
        let images = self.images.as_ref().filter(|_| p.images.is_some());
        self.scored += 1;
        evaluate(rt, Target::Arch { space, arch }, p, proxies, images)
            .map_err(|e| e.in_arch(arch.format(space)))
    }

    /// Whether the record file holds `arch` of `space` under `p`, with every proxy asked for.
    pub fn has(&self, space: &SearchSpace, arch_string: &str, p: &Protocol) -> bool {
        let key = p.key(&space_id(space), space.spec.input.resolution);
        self.records
            .as_ref()
            .and_then(|f| f.get(&key, arch_string))
            .is_some_and(|r| self.proxies.iter().all(|x| r.proxies.contains_key(x.name())))
    }

    /// The record file, if any.
    pub fn records(&self) -> Option<&RecordFile> {
        self.records.as_ref()
    }

    /// Architectures scored by this scorer so far.
    pub fn scored(&self) -> usize {
        self.scored
    }

    /// Scores taken from the record file so far.
    pub fn reused(&self) -> usize {
        self.reused
    }
}

impl std::fmt::Debug for Scorer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("runtime_loaded", &self.runtime.is_some())
            .field("records", &self.records.as_ref().map(|r| r.path().to_path_buf()))
            .field("scored", &self.scored)
            .field("reused", &self.reused)
            .finish()
    }
}

fn not_loaded() -> crate::error::Error {
    crate::error::Error::Runtime("the runtime was not loaded".into())
}
