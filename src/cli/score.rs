//! `intrain score`: the InTrain score of a model or of a space's architecture with its
//! per-layer and per-tensor diagnosis; many architectures at once into a resumable record file.

use std::path::PathBuf;

use clap::Args;

use super::target::{TargetArgs, is_space};
use intrain::error::Error;
use intrain::scoring::{ProxyList, ScoreOutput};

/// Arguments of `score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Score every architecture listed in FILE (one string per line; `#` comments) into --out.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["arch", "sample"])]
    archs: Option<PathBuf>,
    /// Score N seeded uniform samples of the space (seeded by --seed) into --out.
    #[arg(long, value_name = "N", conflicts_with = "arch")]
    sample: Option<usize>,
    /// Score only shard K of N (0-based, e.g. a job array's index: 3/8) of --archs/--sample,
    /// split by a stable hash of each architecture's canonical form; a manifest of what the
    /// shard owes goes beside --out (FILE.manifest.json), and `intrain merge` joins the shards.
    #[arg(long, value_name = "K/N")]
    shard: Option<intrain::scoring::shard::Shard>,
    #[command(flatten)]
    jobs: super::args::JobsArgs,
    /// Record file of many architectures (.jsonl, or .csv): appended and flushed per
    /// architecture; architectures already in it under the same protocol are skipped.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "scores.jsonl")]
    out: PathBuf,
    /// Draw the per-layer PR/C and per-tensor gradient health h profile (.png or .svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Baseline proxies to compute beside InTrain, comma-separated, or `all` (see `intrain
    /// proxies`): the fewest passes that serve them all are run.
    #[arg(long, value_name = "NAME,..|all")]
    proxies: Option<ProxyList>,
    /// Print JSON (schema: schemas/score.schema.json).
    #[arg(long)]
    json: bool,
}

/// Runs `score`.
pub fn run(a: ScoreArgs) -> anyhow::Result<super::Exit> {
    let proxies = a.proxies.map(|l| l.0).unwrap_or_default();
    if a.archs.is_some() || a.sample.is_some() {
        if !is_space(&a.target.target) {
            return Err(Error::Usage(format!(
                "{}: --archs/--sample need a search space (.yaml)",
                a.target.target.display()
            ))
            .into());
        }
        let req = super::score_batch::BatchRequest {
            archs: a.archs.as_deref(),
            sample: a.sample,
            shard: a.shard,
            jobs: a.jobs.jobs,
            out: &a.out,
        };
        return super::score_batch::run(&a.target, req, &proxies, a.json);
    }
    if a.shard.is_some() {
        return Err(Error::Usage("--shard splits --archs or --sample".into()).into());
    }
    let rt = a.target.runtime.runtime()?;
    let r = a.target.score(&rt, &proxies)?;
    if let Some(p) = &a.plot {
        super::profile_plot::save(&r, p)?;
    }
    if a.json {
        super::print_json(&r)?;
    } else {
        print_report(&r);
    }
    Ok(super::Exit::Success)
}

/// Prints the baseline proxies computed beside InTrain, their passes and the proxies that
/// could not be computed.
fn print_proxies(r: &ScoreOutput) {
    if r.passes.is_empty() && r.unavailable.is_empty() {
        return;
    }
    let p = &r.protocol;
    outln!(
        "proxies ({} conventions{}):",
        super::value_name(&p.conventions),
        p.images.as_ref().map(|i| format!(", images {}", i.display())).unwrap_or_default()
    );
    for pass in &r.passes {
        for name in &pass.proxies {
            let v = r.proxies.get(name).copied().unwrap_or(f64::NAN);
            outln!("  {name:<12} {v:>14.6e}");
        }
    }
    for pass in &r.passes {
        outln!(
            "  pass {} ({} data, batch {}): {:.3} s for {}",
            pass.kind,
            pass.data,
            pass.batch,
            pass.seconds,
            pass.proxies.join(", ")
        );
    }
    for (name, why) in &r.unavailable {
        outln!("  {name}: not computed: {why}");
    }
}

/// Prints the readable report.
pub fn print_report(r: &ScoreOutput) {
    let s = &r.report.score;
    let p = &r.protocol;
    outln!("{}{}", r.model, r.arch.as_ref().map(|a| format!("  {a}")).unwrap_or_default());
    if let Some(c) = &r.costs {
        outln!("params {}   MACs {}   FLOPs {}", c.params, c.macs, c.flops);
    }
    outln!(
        "InTrain {:.4}   gamma {:.4}   o {:.4}   L {}   tensors {}   loss {:.4}",
        s.intrain,
        s.gamma,
        s.o,
        s.layers,
        s.tensors,
        r.report.loss
    );
    outln!(
        "protocol: batch {}{}, seed {}, init {}, BN {}, layers {}, params {} ({:.2} s)",
        p.batch,
        p.resolution.map(|r| format!(", {r}x{r}")).unwrap_or_default(),
        p.seed,
        super::value_name(&p.init),
        super::value_name(&p.bn),
        super::value_name(&p.layers),
        super::value_name(&p.params),
        r.seconds
    );
    let m = &r.report.memory;
    outln!("memory: {m}");
    print_proxies(r);
    if !r.report.loss.is_finite() {
        outln!("warning: the loss is {} (NaN/Inf in the forward pass)", r.report.loss);
    }
    if s.dead_layers > 0 || s.non_finite > 0 {
        outln!(
            "warning: {} dead layers, {} layers/tensors with NaN or Inf (left out of the score)",
            s.dead_layers,
            s.non_finite
        );
    }
    outln!("\n{:<44} {:<20} {:>8} {:>7} {:>9}  flags", "layer", "shape", "PR", "PR/C", "RMS/input");
    for l in &r.report.layers {
        let flags = if l.spectrum.dead {
            "DEAD"
        } else if l.spectrum.non_finite {
            "NaN/Inf"
        } else if l.gate {
            "gate (squeeze-excitation)"
        } else if l.spectrum.sample_limited {
            "PR <= samples - 1"
        } else {
            ""
        };
        outln!(
            "{:<44} {:<20} {:>8.3} {:>7.3} {:>9.3e}  {flags}",
            l.name,
            format!("{:?}", l.shape),
            l.spectrum.pr,
            l.spectrum.pr_over_c,
            l.spectrum.mean_square.sqrt() / r.report.input_rms
        );
    }
    outln!(
        "\n{:<44} {:<20} {:>8} {:>11} {:>11} {:>11}",
        "parameter",
        "shape",
        "h",
        "std",
        "max |g|",
        "|g|/|W|"
    );
    for t in &r.report.tensors {
        let h = t.h.map_or("-".to_string(), |h| format!("{h:.4}"));
        let (std, max) = t.grad.map_or(("-".into(), "-".into()), |g| {
            (format!("{:.3e}", g.std), format!("{:.3e}", g.max_abs))
        });
        let relative = t.relative_grad.map_or("-".to_string(), |g| format!("{g:.3e}"));
        let flag = if t.grad.is_some_and(|g| g.non_finite > 0) { "  NaN/Inf" } else { "" };
        outln!(
            "{:<44} {:<20} {:>8} {:>11} {:>11} {:>11}{flag}",
            t.name,
            format!("{:?}", t.shape),
            h,
            std,
            max,
            relative
        );
    }
}
