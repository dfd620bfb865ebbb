//! A search run in its folder: the settings (`run.json`), the history appended per iteration
//! (`history.jsonl`), resume by replay, a clean stop on request, and the outcome
//! (`result.json`, `best.onnx`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::history::HistoryFile;
use super::{HistoryEntry, Search, SearchConfig};
use crate::error::{Error, Result};
use crate::eval::GroundTruth;
use crate::scoring::{Protocol, Scorer, space_id};
use crate::space::{Arch, LowerOptions, SearchSpace};

/// The settings of a run, saved as `DIR/run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    /// The space file as given.
    pub space: PathBuf,
    /// Its identity (name and definition hash): a resumed run must use the same definition.
    pub space_id: String,
    /// The search.
    pub search: SearchConfig,
    /// The scoring protocol.
    pub protocol: Protocol,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl RunFile {
    /// The settings of a new run of `space` (read to record its identity).
    pub fn new(space: &Path, search: SearchConfig, protocol: Protocol) -> Result<RunFile> {
        let s = SearchSpace::read(space)?;
        Ok(RunFile { space: space.to_path_buf(), space_id: space_id(&s), search, protocol })
    }

    /// Reads `DIR/run.json`.
    pub fn read(dir: &Path) -> Result<RunFile> {
        let path = dir.join("run.json");
        let text = crate::limits::read_text(&path)?;
        serde_json::from_str(&text).map_err(|e| Error::Data(format!("{}: {e}", path.display())))
    }

    /// Writes `DIR/run.json` (creating the folder).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("run.json");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text + "\n").map_err(io(&path))
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every iteration is done.
    Finished,
    /// Stopped on request before the last iteration; resuming continues it.
    Interrupted,
}

/// A search run bound to its folder.
#[derive(Debug)]
pub struct SearchRun {
    dir: PathBuf,
    run: RunFile,
    space: SearchSpace,
}

impl SearchRun {
    /// A new run in `dir`; refuses a folder that already holds a search.
    pub fn create(dir: &Path, run: RunFile) -> Result<SearchRun> {
        if dir.join("history.jsonl").exists() {
            return Err(Error::Settings(format!(
                "{} already holds a search: resume it, or choose another folder",
                dir.display()
            )));
        }
        SearchRun::bind(dir, run)
    }

    /// The run in `dir`, to continue; `iterations` may extend it (never shorten it).
    pub fn resume(dir: &Path, iterations: Option<usize>) -> Result<SearchRun> {
        let mut run = RunFile::read(dir)?;
        if let Some(t) = iterations {
            run.search.iterations = run.search.iterations.max(t);
        }
        SearchRun::bind(dir, run)
    }

    fn bind(dir: &Path, run: RunFile) -> Result<SearchRun> {
        let space = SearchSpace::read(&run.space)?;
        if space_id(&space) != run.space_id {
            return Err(Error::Settings(format!(
                "{}: the space definition changed since this search started ({} vs {}); start a new search",
                run.space.display(),
                space_id(&space),
                run.space_id
            )));
        }
        Ok(SearchRun { dir: dir.to_path_buf(), run, space })
    }

    /// The settings.
    pub fn settings(&self) -> &RunFile {
        &self.run
    }

    /// The space searched.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs the search to its end or until `stop` is set: replays the recorded history, then
    /// scores new candidates through `scorer`, appending each iteration to the history.
    /// `bar` shows progress (pass `ProgressBar::hidden()` for none).
    pub fn run(
        &self,
        scorer: &mut Scorer<'_>,
        stop: &AtomicBool,
        bar: &indicatif::ProgressBar,
    ) -> Result<(Search<'_>, Ending)> {
        self.run.write(&self.dir)?;
        let (mut history, recorded) = HistoryFile::open(&self.dir.join("history.jsonl"))?;
        let mut search = Search::new(&self.space, self.run.search.clone())?;
        for e in &recorded {
            if search.done() {
                break;
            }
            search.step(&mut |_| Err(Error::Settings("replay".into())), Some(e))?;
        }
        bar.set_length(self.run.search.iterations as u64);
        bar.set_position(search.history().len() as u64);
        let start = Instant::now();
        let scored_before = scorer.scored();
        while !search.done() && !stop.load(Ordering::SeqCst) {
            let mut score =
                |arch: &Arch| scorer.get_or_score(&self.space, arch, &self.run.protocol);
            let e = search.step(&mut score, None)?.clone();
            history.append(&e)?;
            bar.inc(1);
            if let Some((b, value)) = search.best_of(search.history().len()) {
                let rate = (scorer.scored() - scored_before) as f64
                    / start.elapsed().as_secs_f64().max(1e-9);
                let arch = &search.history()[b].record.arch;
                bar.set_message(format!("{rate:.2} eval/s  best {value:.3} {arch}"));
            }
        }
        let ending = if search.done() { Ending::Finished } else { Ending::Interrupted };
        Ok((search, ending))
    }

    /// Writes `result.json` and the best architecture as `best.onnx` into the folder.
    pub fn write_outcome(&self, o: &SearchOutcome) -> Result<()> {
        let path = self.dir.join("result.json");
        let text = serde_json::to_string_pretty(o)
            .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text + "\n").map_err(io(&path))?;
        let Some(best) = &o.best else { return Ok(()) };
        let arch = Arch::parse(&self.space, &best.record.arch)?;
        let g = self.space.lower(
            &arch,
            &LowerOptions { seed: Some(self.run.protocol.seed), ..Default::default() },
        )?;
        crate::onnx::save(&g, &self.dir.join("best.onnx"))
    }
}

/// Ground-truth view of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TruthReport {
    /// The accuracy column.
    pub column: String,
    /// Accuracy of the best architecture found.
    pub best_accuracy: Option<f64>,
    /// The best accuracy in the whole table (the optimum).
    pub optimum: f64,
    /// Accuracy of the best-so-far architecture after each iteration.
    pub best_so_far: Vec<Option<f64>>,
}

/// A benchmark table to report a run's accuracies from.
#[derive(Debug, Clone, Copy)]
pub struct TruthColumns<'a> {
    /// The CSV file.
    pub path: &'a Path,
    /// Its accuracy column.
    pub column: &'a str,
    /// Its architecture column.
    pub arch_column: &'a str,
}

/// The outcome of a search (also `DIR/result.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    /// Iterations done.
    pub iterations: usize,
    /// Architectures scored (the rest reused a functionally identical architecture's score).
    pub evaluations: usize,
    /// Seconds spent scoring (sum over evaluations).
    pub scoring_seconds: f64,
    /// The best entry.
    pub best: Option<HistoryEntry>,
    /// Score of each iteration's candidate (a rank aggregate's: over the history up to it).
    pub scores: Vec<f64>,
    /// After each iteration, the value of the best architecture so far (as the search ranked
    /// them then), over the whole history (a rank aggregate's values move as the pool grows).
    pub best_so_far: Vec<f64>,
    /// Ground truth, when a table was given.
    pub truth: Option<TruthReport>,
}

impl SearchOutcome {
    /// Summarises a search, with the accuracies of a benchmark table when given.
    pub fn new(search: &Search<'_>, truth: Option<TruthColumns<'_>>) -> Result<SearchOutcome> {
        let h = search.history();
        // The best architecture after each iteration (as the search saw it then), valued as
        // the whole run values it (a rank aggregate's values move as the pool grows).
        let last: HashMap<usize, f64> = search.values_of(h.len()).into_iter().collect();
        let mut best_so_far = Vec::with_capacity(h.len());
        let mut best_idx: Vec<Option<usize>> = Vec::with_capacity(h.len());
        // The best changes only when an architecture not seen before joins the history.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut b: Option<usize> = None;
        for (i, e) in h.iter().enumerate() {
            if seen.insert(&e.canonical) {
                b = search.best_of(i + 1).filter(|&(_, v)| v.is_finite()).map(|(j, _)| j);
            }
            best_so_far.push(b.and_then(|j| last.get(&j).copied()).unwrap_or(f64::NAN));
            best_idx.push(b);
        }
        let best = search.best_of(h.len()).map(|(j, v)| HistoryEntry { score: v, ..h[j].clone() });
        let truth = match truth {
            None => None,
            Some(t) => {
                let table = GroundTruth::read(t.path, t.arch_column)?;
                let col = table
                    .column(t.column)
                    .map_err(|e| Error::Data(format!("{}: {e}", t.path.display())))?;
                let acc = |arch: &str| table.row(arch).map(|r| col[r]);
                Some(TruthReport {
                    column: t.column.into(),
                    best_accuracy: search.best().and_then(|e| acc(&e.record.arch)),
                    optimum: col.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max),
                    best_so_far: best_idx
                        .iter()
                        .map(|&j| j.and_then(|j| acc(&h[j].record.arch)))
                        .collect(),
                })
            }
        };
        Ok(SearchOutcome {
            iterations: h.len(),
            evaluations: h.iter().filter(|e| !e.reused).count(),
            scoring_seconds: h.iter().map(|e| e.record.seconds).sum(),
            best,
            scores: h.iter().map(|e| e.score).collect(),
            best_so_far,
            truth,
        })
    }
}
