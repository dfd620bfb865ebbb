//! Sharded scoring: a sample scored as 3 shards in separate processes (one killed mid-run and
//! left with a cut-short line, then rerun) merges into exactly the unsharded result; conflicting
//! duplicates are an error naming both files; a missing shard is reported; the Slurm and
//! Kubernetes examples pass the shard arguments `score` expects.

mod common;

use common::records;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SAMPLE: &str = "12";

fn score_args(out: &Path, shard: Option<&str>) -> Vec<String> {
    sample_args(SAMPLE, out, shard)
}

fn sample_args(n: &str, out: &Path, shard: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = [
        "score",
        "models/spaces/nb201.yaml",
        "--sample",
        n,
        "--batch",
        "4",
        "--resolution",
        "8",
        "--threads",
        "1",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(out.display().to_string());
    if let Some(s) = shard {
        v.extend(["--shard".to_string(), s.to_string()]);
    }
    v
}

#[test]
fn three_shards_one_killed_merge_into_the_unsharded_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let whole = d.join("whole.jsonl");
    let out = common::intrain(&score_args(&whole, None));
    assert!(out.status.success(), "{}", common::stderr(&out));
    // Shards 0 and 2 run to the end; shard 1 is killed once it has written a line, and a
    // cut-short line is left at its end as a kill mid-write leaves it.
    for k in [0, 2] {
        let out =
            common::intrain(&score_args(&d.join(format!("s{k}.jsonl")), Some(&format!("{k}/3"))));
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let s1 = d.join("s1.jsonl");
    let mut child = common::intrain_command(&score_args(&s1, Some("1/3")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while std::fs::read_to_string(&s1).map_or(0, |t| t.lines().count()) < 1 {
        assert!(start.elapsed() < Duration::from_secs(120), "shard 1 wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let partial = r#"{"key":"nas-bench-201@"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&s1)
        .expect("open")
        .write_all(partial.as_bytes())
        .expect("write");
    // Merging now reports what shard 1 still owes (exit 1).
    let inputs: Vec<String> =
        (0..3).map(|k| d.join(format!("s{k}.jsonl")).display().to_string()).collect();
    let early = d.join("early.jsonl");
    let mut args = vec!["merge".to_string()];
    args.extend(inputs.iter().cloned());
    args.extend(["-o".into(), early.display().to_string(), "--json".into()]);
    let out = common::intrain(&args);
    assert!(out.status.code() != Some(2), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let owed = report["coverage"]["missing"].as_array().map_or(0, Vec::len);
    let done =
        std::fs::read_to_string(&s1).expect("s1").lines().filter(|l| l.ends_with('}')).count();
    eprintln!("shard 1 killed after {done} of its scores; the merge reports {owed} owed");
    assert!(owed > 0, "shard 1 was killed before it finished its {} scores", done + owed);
    assert_eq!(out.status.code(), Some(1), "incomplete coverage is exit 1");
    assert_eq!(report["torn"].as_array().map(Vec::len), Some(1), "{report}");
    // The rerun resumes from its own file, then the merge is the unsharded result exactly.
    let out = common::intrain(&score_args(&s1, Some("1/3")));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let merged = d.join("merged.jsonl");
    let mut args = vec!["merge".to_string()];
    args.extend(inputs.iter().cloned());
    args.extend(["-o".into(), merged.display().to_string(), "--json".into()]);
    let out = common::intrain(&args);
    assert_eq!(out.status.code(), Some(0), "{}", common::stdout(&out));
    let report = common::stdout_json(&out);
    assert_eq!(report["coverage"]["shards"].as_u64(), Some(3));
    assert_eq!(report["coverage"]["requested"].as_u64(), Some(12));
    let (ours, want) = (records(&merged), records(&whole));
    assert_eq!(ours.len(), 12);
    assert_eq!(ours, want, "the merged shards are the unsharded scores, bit for bit");
    // Every shard got some of the work.
    for k in 0..3 {
        assert!(!records(&d.join(format!("s{k}.jsonl"))).is_empty(), "shard {k} scored nothing");
    }
}

#[test]
fn conflicting_duplicates_are_an_error_naming_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.jsonl");
    // (Not `score_args` with the sample size replaced: that would rewrite the digit wherever
    // the temporary directory's random name holds it too.)
    let out = common::intrain(&sample_args("2", &a, None));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = std::fs::read_to_string(&a).expect("a");
    let first = text.lines().next().expect("a line");
    let mut v: serde_json::Value = serde_json::from_str(first).expect("json");
    v["intrain"] = serde_json::json!(v["intrain"].as_f64().expect("intrain") + 1.0);
    let b = dir.path().join("b.jsonl");
    std::fs::write(&b, format!("{v}\n")).expect("b");
    let out = common::intrain(&[
        "merge",
        &a.display().to_string(),
        &b.display().to_string(),
        "-o",
        &dir.path().join("m.jsonl").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = common::stderr(&out);
    assert!(e.contains("b.jsonl") && e.contains("a.jsonl") && e.contains("intrain is"), "{e}");
    // --keep-first keeps the first line read.
    let k = dir.path().join("k.jsonl");
    let out = common::intrain(&[
        "merge",
        &a.display().to_string(),
        &b.display().to_string(),
        "-o",
        &k.display().to_string(),
        "--keep-first",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(common::stdout_json(&out)["conflicts"].as_u64(), Some(1));
    assert_eq!(records(&k), records(&a));
    // The same line twice is a repeat, not a conflict.
    std::fs::write(&b, format!("{first}\n")).expect("b");
    let m = dir.path().join("m2.jsonl");
    let out = common::intrain(&[
        "merge",
        &a.display().to_string(),
        &b.display().to_string(),
        "-o",
        &m.display().to_string(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(common::stdout_json(&out)["duplicates"].as_u64(), Some(1));
}

/// `PATH` with the built `intrain` first.
#[cfg(unix)]
fn path_with_intrain() -> String {
    let bin =
        Path::new(env!("CARGO_BIN_EXE_intrain")).parent().expect("bin dir").display().to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// The Slurm job-array script: as many shards as array tasks, each index passed as `--shard
/// K/N` with its own record file; run as Slurm would run its tasks (a sample of 2), the shards
/// merge with complete coverage.
#[test]
#[cfg(unix)]
fn the_slurm_example_runs_one_shard_per_array_task() {
    let root = common::root();
    let script = root.join("examples/cluster/slurm_score_shards.sh");
    let text = std::fs::read_to_string(&script).expect("script");
    let array = text.lines().find_map(|l| l.strip_prefix("#SBATCH --array=")).expect("--array");
    let (lo, hi) = array.split_once('-').expect("a range");
    let tasks: usize = hi.parse::<usize>().expect("hi") + 1 - lo.parse::<usize>().expect("lo");
    let shards: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("SHARDS="))
        .expect("SHARDS")
        .parse()
        .expect("number");
    assert_eq!((lo, tasks), ("0", shards), "one shard per array task, from index 0");
    assert!(text.contains(r#"--shard "$SLURM_ARRAY_TASK_ID/$SHARDS""#));
    // Slurm opens the log before the script runs: it cannot be in a folder the script creates.
    let log = text.lines().find_map(|l| l.strip_prefix("#SBATCH --output=")).expect("--output");
    assert!(!log.contains('/'), "{log}");
    let dir = tempfile::tempdir().expect("tempdir");
    for k in 0..tasks {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .current_dir(dir.path())
            .env("PATH", path_with_intrain())
            .env("SLURM_ARRAY_TASK_ID", k.to_string())
            .env("SLURM_CPUS_PER_TASK", "1")
            .env("SPACE", root.join("models/spaces/nb201.yaml"))
            .env("SAMPLE", "2")
            .output()
            .expect("bash");
        assert!(out.status.success(), "task {k}: {}", common::stderr(&out));
    }
    let files: Vec<String> = (0..tasks)
        .map(|k| dir.path().join(format!("shards/scores-{k}.jsonl")).display().to_string())
        .collect();
    let mut args = vec!["merge".to_string()];
    args.extend(files);
    args.extend(["-o".into(), dir.path().join("all.jsonl").display().to_string(), "--json".into()]);
    let report = common::stdout_json(&common::intrain(&args));
    assert_eq!(report["records"].as_u64(), Some(2));
    assert_eq!(report["coverage"]["shards"].as_u64(), Some(shards as u64));
}

/// The Kubernetes Indexed Job: one completion per shard, the completion index passed as `--shard
/// K/N` with its own record file; its command runs (a sample of 2, index 0).
#[test]
#[cfg(unix)]
fn the_kubernetes_example_is_an_indexed_job_of_one_shard_per_index() {
    let root = common::root();
    let text =
        std::fs::read_to_string(root.join("examples/cluster/k8s_score_shards.yaml")).expect("yaml");
    let job: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(c["command"], serde_json::json!(["/bin/sh", "-c"]));
    let cmd = c["args"][0].as_str().expect("one shell command");
    assert!(cmd.contains(&format!(r#"--shard "${{JOB_COMPLETION_INDEX}}/{n}""#)), "{cmd}");
    assert!(cmd.contains("${JOB_COMPLETION_INDEX}.jsonl"), "a record file per index: {cmd}");
    let dir = tempfile::tempdir().expect("tempdir");
    let cmd = cmd
        .replace("--sample 1000", "--sample 2")
        .replace("/results/", &format!("{}/", dir.path().display()));
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &cmd])
        .current_dir(&root)
        .env("PATH", path_with_intrain())
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let manifest =
        std::fs::read_to_string(dir.path().join("scores-0.jsonl.manifest.json")).expect("manifest");
    assert!(manifest.contains(&format!(r#""count":{n}"#)), "{manifest}");
}

/// Two shards given one file, a retried shard with a different list, inputs of different jobs,
/// and an output that exists (also as an input reached through `..`) are refused.
#[test]
fn shards_keep_to_their_own_files_and_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let one = d.join("new/one.jsonl");
    let out = common::intrain(&sample_args("3", &one, Some("0/2")));
    assert!(out.status.success(), "a missing folder is created: {}", common::stderr(&out));
    let out = common::intrain(&sample_args("3", &one, Some("1/2")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("is shard 0/2's record file"),
        "{}",
        common::stderr(&out)
    );
    let out = common::intrain(&sample_args("4", &one, Some("0/2")));
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("another job's"), "{}", common::stderr(&out));
    let other = d.join("other.jsonl");
    let out = common::intrain(&sample_args("4", &other, Some("1/2")));
    assert!(out.status.success(), "{}", common::stderr(&out));
    let (o, x) = (one.display().to_string(), other.display().to_string());
    let out = common::intrain(&["merge", &o, &x, "-o", &d.join("m.jsonl").display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("different jobs"), "{}", common::stderr(&out));
    let sneaky = d.join("sub/../new/one.jsonl").display().to_string();
    let out = common::intrain(&["merge", &x, "-o", &sneaky]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("exists"), "{}", common::stderr(&out));
    // CSV in, CSV out: the same records.
    let csv = d.join("c.csv");
    let out = common::intrain(&["merge", &o, "-o", &csv.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "one shard of two: incomplete");
    let back = d.join("back.jsonl");
    let out =
        common::intrain(&["merge", &csv.display().to_string(), "-o", &back.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(records(&back), records(&one));
}
