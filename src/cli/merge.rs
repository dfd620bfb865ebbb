//! `intrain merge`: join the record files of shards (or of runs made in parallel) into one.

use std::path::PathBuf;

use clap::Args;

use intrain::scoring::merge::merge;

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Record files to merge (.jsonl or .csv): the --out files of `score --shard`, `eval
    /// --shard` or `search-table --shard`; their manifests (FILE.manifest.json) are read from
    /// beside them.
    #[arg(value_name = "FILE", required = true)]
    inputs: Vec<PathBuf>,
    /// The merged record file to write (.jsonl, or .csv); it must not exist yet.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
    /// Where two lines give one architecture and protocol different scores (computed on
    /// different machines, they can differ in the last bits), keep the first line read instead
    /// of stopping with an error.
    #[arg(long)]
    keep_first: bool,
    /// Print the report as JSON (schema: schemas/merge.schema.json).
    #[arg(long)]
    json: bool,
}

/// Runs `merge`: exit 1 when the shards' manifests ask for scores the inputs lack.
pub fn run(a: MergeArgs) -> anyhow::Result<super::Exit> {
    let r = merge(&a.inputs, &a.out, a.keep_first)?;
    let complete = r.coverage.as_ref().is_none_or(|c| c.complete());
    if a.json {
        super::print_json(&r)?;
    } else {
        outln!(
            "{}: {} records from {} files ({} records read, {} repeats dropped)",
            r.out,
            r.records,
            r.inputs,
            r.lines,
            r.duplicates
        );
        if r.conflicts > 0 {
            outln!("{} records with different scores dropped (the first read kept)", r.conflicts);
        }
        for t in &r.torn {
            outln!("{t}: its last line was cut short (a killed writer) and is dropped");
        }
        if let Some(c) = &r.coverage {
            if c.complete() {
                outln!("coverage    complete: all {} shards, {} scores", c.shards, c.requested);
            } else {
                let shards: Vec<String> =
                    c.missing_shards.iter().map(|i| format!("{i}/{}", c.shards)).collect();
                if !shards.is_empty() {
                    outln!(
                        "missing     shards {} (no file with a manifest given)",
                        shards.join(", ")
                    );
                }
                outln!(
                    "missing     {} of {} scores the manifests ask for",
                    c.missing.len(),
                    c.requested
                );
                for (key, arch) in c.missing.iter().take(10) {
                    outln!("  {arch}  (protocol {key})");
                }
                if c.missing.len() > 10 {
                    outln!("  ... and {} more (--json lists them all)", c.missing.len() - 10);
                }
                outln!(
                    "rerun the shards that owe them (they resume from their own files), then merge again"
                );
            }
        }
    }
    Ok(if complete { super::Exit::Success } else { super::Exit::CheckFailed })
}
