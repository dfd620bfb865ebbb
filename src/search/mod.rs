//! InTrain-NAS (Algorithm 1 of the InTrain paper's supplementary material): history-based
//! elitist evolution under a FLOPs/parameter budget, and random search as a baseline; [`run`]
//! drives a search from its folder (settings, history, resume).
//!
//! The search is a pure function of its configuration and the scores it receives: resuming
//! replays the recorded history through the same random stream, taking each score from the
//! record instead of recomputing it, so a killed run continues exactly where it stopped.

pub mod history;
pub mod run;

use std::cell::RefCell;
use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use history::HistoryEntry;

use crate::error::{Error, Result};
use crate::scoring::{Proxy, ScoreRecord};
pub use crate::space::Budget;
use crate::space::{Arch, Cost, SearchSpace, rng};

/// How candidates are proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Mutate one of the top-k of the history (the paper's Algorithm 1).
    Evolution,
    /// Sample uniformly within the budget (baseline).
    Random,
}

/// Everything that determines a search run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Candidate proposal.
    pub strategy: Strategy,
    /// Iterations T.
    pub iterations: usize,
    /// Elite size k.
    pub elite: usize,
    /// Seed of the search's random stream.
    pub seed: u64,
    /// Budget.
    pub budget: Budget,
    /// Proxy maximised.
    pub proxy: Proxy,
}

/// The value of each distinct architecture of a history, by the index of its first entry.
type Values = Vec<(usize, f64)>;

/// Draws before giving up on the budget.
const MAX_DRAWS: usize = 10_000;
/// Mutations of one parent tried before drawing a fresh in-budget architecture.
const MAX_MUTATIONS: usize = 100;

/// A search in progress.
#[derive(Debug)]
pub struct Search<'a> {
    space: &'a SearchSpace,
    cfg: SearchConfig,
    rng: ChaCha8Rng,
    history: Vec<HistoryEntry>,
    by_canonical: HashMap<Arch, usize>,
    candidate: Arch,
    cost_cache: HashMap<Arch, Cost>,
    /// The last [`Search::values_of`], by the number of distinct architectures it covers (a
    /// rank aggregate's values change only when a new architecture joins the pool).
    values_cache: RefCell<Option<(usize, Values)>>,
}

impl<'a> Search<'a> {
    /// Starts a search: draws the first in-budget architecture.
    pub fn new(space: &'a SearchSpace, cfg: SearchConfig) -> Result<Search<'a>> {
        if cfg.elite == 0 {
            return Err(Error::Settings("the elite size k must be at least 1".into()));
        }
        let mut s = Search {
            space,
            rng: rng(cfg.seed),
            cfg,
            history: Vec::new(),
            by_canonical: HashMap::new(),
            candidate: Arch::sample(space, &mut rng(0)),
            cost_cache: HashMap::new(),
            values_cache: RefCell::new(None),
        };
        s.candidate = s.draw_in_budget()?;
        Ok(s)
    }

    fn costs(&mut self, a: &Arch) -> Result<Cost> {
        if let Some(c) = self.cost_cache.get(a) {
            return Ok(*c);
        }
        let c = self.space.cost(a)?;
        self.cost_cache.insert(a.clone(), c);
        Ok(c)
    }

    fn draw_in_budget(&mut self) -> Result<Arch> {
        for _ in 0..MAX_DRAWS {
            let a = Arch::sample(self.space, &mut self.rng);
            let c = self.costs(&a)?;
            if self.cfg.budget.admits(&c) {
                return Ok(a);
            }
        }
        Err(Error::Settings(format!(
            "no architecture meets the budget (max FLOPs {:?}, max params {:?}) in {MAX_DRAWS} draws",
            self.cfg.budget.max_flops, self.cfg.budget.max_params
        )))
    }

    /// The configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.cfg
    }

    /// The architecture the next step evaluates.
    pub fn candidate(&self) -> &Arch {
        &self.candidate
    }

    /// The history so far.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Whether all iterations are done.
    pub fn done(&self) -> bool {
        self.history.len() >= self.cfg.iterations
    }

    /// The best entry of the history (highest proxy value; the earliest on ties). For a rank
    /// aggregate the entry's `score` is its value when it was scored; [`Search::best_of`] gives
    /// its value over the whole history.
    pub fn best(&self) -> Option<&HistoryEntry> {
        self.best_of(self.history.len()).map(|(i, _)| &self.history[i])
    }

    /// The value of each distinct architecture among the first `upto` entries, by the index of
    /// its first entry, in history order: its proxy value, or for a rank aggregate its value
    /// over the pool of those architectures (each counted once).
    pub fn values_of(&self, upto: usize) -> Vec<(usize, f64)> {
        let mut distinct: Vec<usize> =
            self.by_canonical.values().copied().filter(|&i| i < upto).collect();
        distinct.sort_unstable();
        if self.cfg.proxy.components().is_empty() {
            return distinct.into_iter().map(|i| (i, self.history[i].score)).collect();
        }
        if let Some((n, values)) = &*self.values_cache.borrow()
            && *n == distinct.len()
        {
            return values.clone();
        }
        let pool: Vec<&ScoreRecord> = distinct.iter().map(|&i| &self.history[i].record).collect();
        let values: Vec<(usize, f64)> =
            distinct.into_iter().zip(self.cfg.proxy.pool_values(&pool)).collect();
        *self.values_cache.borrow_mut() = Some((values.len(), values.clone()));
        values
    }

    /// The best of the first `upto` entries by [`Search::values_of`] (the earliest on ties, a
    /// finite value before a non-finite one): its index and value.
    pub fn best_of(&self, upto: usize) -> Option<(usize, f64)> {
        self.values_of(upto).into_iter().fold(None, |best, (i, v)| match best {
            Some((b, bv)) if bv.is_finite() && (bv >= v || !v.is_finite()) => Some((b, bv)),
            Some((b, bv)) if !bv.is_finite() && !v.is_finite() => Some((b, bv)),
            _ => Some((i, v)),
        })
    }

    /// Whether the candidate's score is already known (same canonical architecture).
    pub fn candidate_is_known(&self) -> bool {
        self.by_canonical.contains_key(&self.candidate.canonical(self.space))
    }

    /// Evaluates the candidate and proposes the next one. `score` is called only for
    /// architectures not seen before; `replay` supplies a recorded entry instead (resume): it
    /// must be for the same architecture.
    pub fn step(
        &mut self,
        score: &mut dyn FnMut(&Arch) -> Result<ScoreRecord>,
        replay: Option<&HistoryEntry>,
    ) -> Result<&HistoryEntry> {
        let arch = self.candidate.clone();
        let name = arch.format(self.space);
        let canonical = arch.canonical(self.space);
        let iteration = self.history.len();
        let entry = match (replay, self.by_canonical.get(&canonical)) {
            (Some(r), _) => {
                if r.record.arch != name || r.iteration != iteration {
                    return Err(Error::Settings(format!(
                        "history line {} is {} at iteration {}, but this search's iteration {iteration} is {name}: the history was written with other settings",
                        iteration + 1,
                        r.record.arch,
                        r.iteration
                    )));
                }
                r.clone()
            }
            (None, Some(&i)) => {
                let mut record = self.history[i].record.clone();
                record.arch = name;
                record.seconds = 0.0;
                HistoryEntry::new(
                    iteration,
                    self.cfg.proxy,
                    record,
                    true,
                    canonical.format(self.space),
                )
            }
            (None, None) => {
                let record = score(&arch)?;
                HistoryEntry::new(
                    iteration,
                    self.cfg.proxy,
                    record,
                    false,
                    canonical.format(self.space),
                )
            }
        };
        let first = *self.by_canonical.entry(canonical).or_insert(iteration);
        self.history.push(entry);
        if replay.is_none() && !self.cfg.proxy.components().is_empty() {
            // A rank aggregate's value is the candidate's over the pool of the history so far.
            let value = self.values_of(iteration + 1).into_iter().find(|&(i, _)| i == first);
            if let (Some((_, v)), Some(e)) = (value, self.history.last_mut()) {
                e.score = v;
            }
        }
        if !self.done() {
            self.candidate = self.propose()?;
        }
        self.history.last().ok_or_else(|| Error::Settings("empty history".into()))
    }

    fn propose(&mut self) -> Result<Arch> {
        match self.cfg.strategy {
            Strategy::Random => self.draw_in_budget(),
            Strategy::Evolution => {
                // Top-k distinct architectures of the history by score.
                // Non-finite values last, whatever their sign or NaN payload (a history file
                // keeps them as `null`, so a resumed run must order them as a live one).
                let key = |v: f64| if v.is_finite() { v } else { f64::NEG_INFINITY };
                let mut order = self.values_of(self.history.len());
                order.sort_by(|&(a, va), &(b, vb)| key(vb).total_cmp(&key(va)).then(a.cmp(&b)));
                order.truncate(self.cfg.elite);
                use rand::RngExt;
                let pick = order[self.rng.random_range(0..order.len())].0;
                let parent = Arch::parse(self.space, &self.history[pick].record.arch)?;
                for _ in 0..MAX_MUTATIONS {
                    let child = parent.mutate(self.space, &mut self.rng);
                    let c = self.costs(&child)?;
                    if self.cfg.budget.admits(&c) {
                        return Ok(child);
                    }
                }
                self.draw_in_budget()
            }
        }
    }
}
