//! The cached scorer: scores of space architectures through an optional record file, with
//! ONNX Runtime loaded only when something must be scored.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::passes::evaluate;
use super::{PassOverrides, Protocol, Proxy, RecordFile, ScoreRecord, Target, score, space_id};
use crate::error::{Error, Result};
use crate::images::Images;
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
    images: Option<Images>,
    scored: usize,
    reused: usize,
    jobs: usize,
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
            jobs: 1,
        }
    }

    /// Scores up to `jobs` architectures at once in [`Scorer::get_or_score_all`], the runtime's
    /// intra-op threads split between them (at least one each). Each score is the one a
    /// runtime with that many threads gives; 1 (the default) scores one at a time.
    /// [`Scorer::get_or_score`] scores one architecture with all the threads.
    pub fn with_jobs(mut self, jobs: usize) -> Scorer<'a> {
        self.jobs = jobs.max(1);
        self
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
        self.get_or_score_all(space, std::slice::from_ref(arch), p, &mut |_| {})?
            .pop()
            .ok_or_else(|| Error::Runtime("an architecture was not scored".into()))
    }

    /// The records of `archs` under `p`, in their order, as [`Scorer::get_or_score`] gives
    /// them, with up to [`Scorer::with_jobs`] architectures scored at once (each on its share
    /// of the threads). Each record is appended (and flushed) as it is ready, so an interrupted
    /// call loses at most the architectures in flight; `done` is called once per requested
    /// architecture, in the order they are ready; an architecture listed twice is scored once.
    /// With one job the first error returns at once; with several, no new architecture starts
    /// after an error, nothing more is appended, and the first error to arrive is returned.
    pub fn get_or_score_all(
        &mut self,
        space: &SearchSpace,
        archs: &[Arch],
        p: &Protocol,
        done: &mut dyn FnMut(&ScoreRecord),
    ) -> Result<Vec<ScoreRecord>> {
        let mut out: Vec<Option<ScoreRecord>> = vec![None; archs.len()];
        // Architectures to score: the first index of each, the record to complete, and every
        // index that asks for it (a list may repeat an architecture).
        let mut todo: Vec<(usize, Option<ScoreRecord>, Vec<usize>)> = Vec::new();
        let mut first_of: std::collections::HashMap<String, usize> = Default::default();
        for (i, a) in archs.iter().enumerate() {
            let name = a.format(space);
            if let Some(&t) = first_of.get(&name) {
                todo[t].2.push(i);
                continue;
            }
            let existing = match self.lookup(space, a, p) {
                Lookup::Complete(r) => {
                    self.reused += 1;
                    done(&r);
                    out[i] = Some(r);
                    continue;
                }
                Lookup::Lacking(r) => Some(r),
                Lookup::Absent => None,
            };
            first_of.insert(name, todo.len());
            todo.push((i, existing, vec![i]));
        }
        if !todo.is_empty() {
            self.prepare(p)?;
            let shared = self.runtime.as_ref().ok_or_else(not_loaded)?;
            // The threads are split by the jobs asked for, not by the architectures left, so
            // that a resumed run scores its last architectures as it scored the first.
            let split;
            let rt = if self.jobs > 1 {
                split = shared.split(self.jobs);
                &split
            } else {
                shared
            };
            let workers = self.jobs.min(todo.len());
            let images = self.images.as_ref().filter(|_| p.images.is_some());
            let proxies = &self.proxies;
            let todo = &todo;
            let score = |k: usize| {
                let (i, existing, _) = &todo[k];
                complete(rt, space, &archs[*i], p, proxies, images, existing.clone())
            };
            let mut sink = Sink {
                records: self.records.as_mut(),
                out: &mut out,
                done,
                scored: &mut self.scored,
                reused: &mut self.reused,
            };
            if workers == 1 {
                for (k, (_, _, indices)) in todo.iter().enumerate() {
                    sink.take(score(k)?, indices)?;
                }
            } else {
                let next = AtomicUsize::new(0);
                let stop = AtomicBool::new(false);
                let mut first_error = None;
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::scope(|s| {
                    for _ in 0..workers {
                        let (tx, next, stop, score) = (tx.clone(), &next, &stop, &score);
                        s.spawn(move || {
                            let _guard = StopOnPanic(stop);
                            while !stop.load(Ordering::Relaxed) {
                                let k = next.fetch_add(1, Ordering::Relaxed);
                                if k >= todo.len() {
                                    break;
                                }
                                let r = score(k);
                                if r.is_err() {
                                    stop.store(true, Ordering::Relaxed);
                                }
                                if tx.send((k, r)).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    drop(tx);
                    for (k, r) in rx {
                        // After an error nothing more is written: the caller sees the file as
                        // the error left it.
                        if first_error.is_some() {
                            continue;
                        }
                        if let Err(e) = r.and_then(|r| sink.take(r, &todo[k].2)) {
                            stop.store(true, Ordering::Relaxed);
                            first_error = Some(e);
                        }
                    }
                });
                if let Some(e) = first_error {
                    return Err(e);
                }
            }
        }
        out.into_iter()
            .map(|r| r.ok_or_else(|| Error::Runtime("an architecture was not scored".into())))
            .collect()
    }

    /// What the record file holds of `arch` under `p`.
    fn lookup(&self, space: &SearchSpace, arch: &Arch, p: &Protocol) -> Lookup {
        let key = p.key(&space_id(space), space.spec.input.resolution);
        match self.records.as_ref().and_then(|f| f.get(&key, &arch.format(space))) {
            Some(r) if self.proxies.iter().all(|x| r.proxies.contains_key(x.name())) => {
                Lookup::Complete(r.clone())
            }
            Some(r) => Lookup::Lacking(r.clone()),
            None => Lookup::Absent,
        }
    }

    /// Loads the runtime, and the images of `p` (once per file).
    fn prepare(&mut self, p: &Protocol) -> Result<()> {
        if let Some(path) = &p.images
            && self.images.as_ref().is_none_or(|i| i.path != *path)
        {
            self.images = Some(crate::images::Images::open(path)?);
        }
        self.runtime().map(|_| ())
    }

    /// Scores `arch` under `p` with the scorer's proxies (without looking in the record file,
    /// nor appending to it).
    pub fn score(&mut self, space: &SearchSpace, arch: &Arch, p: &Protocol) -> Result<ScoreRecord> {
        self.prepare(p)?;
        let rt = self.runtime.as_ref().ok_or_else(not_loaded)?;
        let images = self.images.as_ref().filter(|_| p.images.is_some());
        let r = complete(rt, space, arch, p, &self.proxies, images, None)?;
        self.scored += 1;
        Ok(r)
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

/// Where the records of [`Scorer::get_or_score_all`] go as they are ready.
struct Sink<'s, 'd> {
    records: Option<&'s mut RecordFile>,
    out: &'s mut Vec<Option<ScoreRecord>>,
    done: &'d mut dyn FnMut(&ScoreRecord),
    scored: &'s mut usize,
    reused: &'s mut usize,
}

impl Sink<'_, '_> {
    /// Appends a newly scored record and hands it to every index that asked for it (the
    /// repeats count as reused, as a second lookup in the file would have found them).
    fn take(&mut self, r: ScoreRecord, indices: &[usize]) -> Result<()> {
        if let Some(f) = self.records.as_deref_mut() {
            f.append(r.clone())?;
        }
        *self.scored += 1;
        *self.reused += indices.len().saturating_sub(1);
        for &i in indices {
            (self.done)(&r);
            self.out[i] = Some(r.clone());
        }
        Ok(())
    }
}

/// Stops the other workers when a worker panics (the panic itself reaches the caller when the
/// scope ends).
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What a record file holds of one architecture under one protocol.
enum Lookup {
    /// A record with every proxy asked for.
    Complete(ScoreRecord),
    /// A record that lacks some of the proxies.
    Lacking(ScoreRecord),
    /// No record.
    Absent,
}

/// The record of `arch` under `p` with `proxies`: `existing` completed with the proxies it
/// lacks, or a new score.
fn complete(
    rt: &Runtime,
    space: &SearchSpace,
    arch: &Arch,
    p: &Protocol,
    proxies: &[Proxy],
    images: Option<&Images>,
    existing: Option<ScoreRecord>,
) -> Result<ScoreRecord> {
    let target = || Target::Arch { space, arch };
    let compute = |proxies: &[Proxy]| {
        evaluate(rt, target(), p, proxies, images).map_err(|e| e.in_arch(arch.format(space)))
    };
    if let Some(mut r) = existing {
        let missing: Vec<Proxy> =
            proxies.iter().copied().filter(|x| !r.proxies.contains_key(x.name())).collect();
        r.proxies.extend(compute(&missing)?.recorded());
        return Ok(r);
    }
    let key = p.key(&space_id(space), space.spec.input.resolution);
    let mut out = score(rt, target(), p, &PassOverrides::default())?;
    if !proxies.is_empty() {
        out.add(compute(proxies)?);
    }
    out.record(key).ok_or_else(|| {
        Error::Protocol(format!("architecture {}: no costs recorded", arch.format(space)))
    })
}

fn not_loaded() -> crate::error::Error {
    crate::error::Error::Runtime("the runtime was not loaded".into())
}
