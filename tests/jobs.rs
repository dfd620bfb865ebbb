//! Scoring several architectures at once (`--jobs`): the records are those of one job with its
//! share of the threads, bit for bit, in batch scoring and in `eval`, also for the last
//! architecture of a resumed run; an architecture listed twice is scored once. And a run that
//! cannot fit in memory is refused before its session is made.

mod common;

use common::records;

use std::path::Path;

fn batch_args(out: &Path, threads: &str, jobs: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "score",
        "models/spaces/nb201.yaml",
        "--sample",
        "6",
        "--batch",
        "4",
        "--resolution",
        "8",
        "--threads",
        threads,
        "--jobs",
        jobs,
        "--json",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(out.display().to_string());
    v
}

#[test]
fn two_jobs_on_two_threads_score_as_one_job_on_one_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one.jsonl");
    let two = dir.path().join("two.jsonl");
    let out = common::intrain(&batch_args(&one, "1", "1"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::intrain(&batch_args(&two, "2", "2"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary = common::stdout_json(&out);
    assert_eq!(summary["scored"], 6, "{summary}");
    assert_eq!(summary["skipped"], 0, "{summary}");
    let (a, b) = (records(&one), records(&two));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "scores differ between --jobs 1 --threads 1 and --jobs 2 --threads 2");
    // Rerun: everything is in the file, nothing is scored again.
    let out = common::intrain(&batch_args(&two, "2", "2"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary = common::stdout_json(&out);
    assert_eq!((summary["scored"].as_u64(), summary["skipped"].as_u64()), (Some(0), Some(6)));
}

#[test]
fn an_architecture_listed_twice_is_scored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("archs.txt");
    let a =
        "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|";
    let b = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|avg_pool_3x3~1|skip_connect~2|";
    std::fs::write(&list, format!("{a}\n{b}\n{a}\n")).expect("write list");
    let out_file = dir.path().join("s.jsonl");
    let out = common::intrain(&[
        "score",
        "models/spaces/nb201.yaml",
        "--archs",
        &list.display().to_string(),
        "--batch",
        "4",
        "--resolution",
        "8",
        "--threads",
        "2",
        "--jobs",
        "3",
        "--json",
        "-o",
        &out_file.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary = common::stdout_json(&out);
    assert_eq!((summary["requested"].as_u64(), summary["scored"].as_u64()), (Some(3), Some(2)));
    let text = std::fs::read_to_string(&out_file).expect("records");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn eval_with_two_jobs_fills_its_cache_as_one_job_on_one_thread() {
    let data = common::shared_data().join("nasbench201");
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |threads: &str, jobs: &str, name: &str| {
        let cache = dir.path().join(format!("{name}.jsonl"));
        let out = common::intrain(&[
            "eval",
            "--data",
            &data.display().to_string(),
            "--sample",
            "5",
            "--seeds",
            "0,1",
            "--batch",
            "4",
            "--resolution",
            "8",
            "--bootstrap",
            "0",
            "--threads",
            threads,
            "--jobs",
            jobs,
            "--json",
            "--cache",
            &cache.display().to_string(),
            "--out",
            &dir.path().join(name).display().to_string(),
        ]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        (records(&cache), common::stdout_json(&out))
    };
    let (one, report_one) = run("1", "1", "one");
    let (two, report_two) = run("2", "2", "two");
    assert_eq!(one.len(), 10, "5 cells x 2 seeds");
    assert_eq!(one, two);
    // The correlations come from the records, in the cells' order whatever order they finished.
    let kendall = |r: &serde_json::Value| r["results"][0]["correlations"].clone();
    assert_eq!(kendall(&report_one), kendall(&report_two));
}

#[test]
fn the_last_architecture_of_a_resumed_run_gets_the_same_share_of_threads() {
    // One architecture left with --jobs 2 --threads 2 is scored on one thread, as the others
    // of the run were.
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("one.txt");
    std::fs::write(
        &list,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|\n",
    )
    .expect("write list");
    let run = |threads: &str, jobs: &str, name: &str| {
        let out_file = dir.path().join(name);
        let out = common::intrain(&[
            "score",
            "models/spaces/nb201.yaml",
            "--archs",
            &list.display().to_string(),
            "--batch",
            "8",
            "--resolution",
            "16",
            "--threads",
            threads,
            "--jobs",
            jobs,
            "-o",
            &out_file.display().to_string(),
        ]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        records(&out_file)
    };
    assert_eq!(run("2", "2", "split.jsonl"), run("1", "1", "one.jsonl"));
}

/// The dense NAS-Bench-201 cell.
const DENSE: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|";

/// `score` of the dense cell under `--max-memory 300MiB`, with more arguments.
fn score_within_300_mib(more: &[&str]) -> (i32, String, String) {
    let mut args =
        vec!["score", "models/spaces/nb201.yaml", "--arch", DENSE, "--max-memory", "300MiB"];
    args.extend(more);
    common::intrain_text(&args)
}

#[test]
fn a_run_that_cannot_fit_in_memory_is_refused_before_it_starts_with_the_batch_that_fits() {
    let (code, _, err) = score_within_300_mib(&[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("one run needs about"), "{err}");
    assert!(err.contains("at batch 64"), "{err}");
    assert!(err.contains("about batch "), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    // The batch it names does fit under the same limit.
    let fits: String = err
        .split("about batch ")
        .nth(1)
        .expect("a batch")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let (code, _, err) = score_within_300_mib(&["--batch", &fits, "--resolution", "64"]);
    assert_eq!(code, 0, "batch {fits}: {err}");
}
