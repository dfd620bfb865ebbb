//! `intrain score SPACE.yaml --archs FILE | --sample N`: many architectures into an
//! append-only record file, skipping those already scored under the same protocol.

use std::path::Path;

use super::target::TargetArgs;
use intrain::error::Error;
use intrain::experiments::batch::{distinct_samples, read_arch_list, score_all};
use intrain::scoring::shard::Shard;
use intrain::scoring::{Proxy, RecordFile, Scorer};

/// A progress bar on stderr with ETA.
pub fn progress(what: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
    ));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// What batch scoring is asked to do.
pub struct BatchRequest<'a> {
    /// The architecture list file, if given.
    pub archs: Option<&'a Path>,
    /// A number of seeded samples, if given.
    pub sample: Option<usize>,
    /// The shard to score, if any.
    pub shard: Option<Shard>,
    /// Architectures scored at once.
    pub jobs: usize,
    /// The record file.
    pub out: &'a Path,
}

/// Runs batch scoring.
pub fn run(
    t: &TargetArgs,
    req: BatchRequest<'_>,
    proxies: &[Proxy],
    json: bool,
) -> anyhow::Result<super::Exit> {
    let BatchRequest { archs, sample, shard, jobs, out } = req;
    if t.layers.is_some() || t.pass.input.is_some() || t.pass.labels.is_some() {
        return Err(Error::Usage(
            "--layers, --input and --labels score one architecture (--arch); batch scoring uses the protocol's seeded inputs".into(),
        )
        .into());
    }
    let space = t.space()?;
    let p = t.protocol()?;
    let list = match (archs, sample) {
        (Some(f), _) => read_arch_list(&space, f)?,
        (None, Some(n)) => distinct_samples(&space, n, p.seed),
        (None, None) => return Err(Error::Usage("give --archs FILE or --sample N".into()).into()),
    };
    let mut scorer = Scorer::new(Box::new(|| t.runtime.runtime()), Some(RecordFile::open(out)?))
        .with_proxies(proxies)
        .with_jobs(jobs);
    let bar = progress("scoring");
    let summary = score_all(&mut scorer, &space, list, &p, shard, &bar)?;
    bar.finish_and_clear();
    if json {
        super::print_json(&summary)?;
    } else {
        outln!(
            "{}: {} scored, {} already there (protocol {})",
            summary.out,
            summary.scored,
            summary.skipped,
            summary.key
        );
        if let (Some(a), Some(v)) = (&summary.best_arch, summary.best_intrain) {
            outln!("best InTrain {v:.4}: {a}");
        }
    }
    Ok(super::Exit::Success)
}
