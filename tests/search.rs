//! `intrain search`: a run killed at a random point and resumed ends with the same history as
//! an uninterrupted run; budgets hold; functionally identical architectures are never rescored.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::intrain;

const ITERATIONS: usize = 10;

fn search_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "search",
        "models/spaces/nb201.yaml",
        "--batch",
        "4",
        "--resolution",
        "8",
        "--threads",
        "1",
        "--seed",
        "3",
        "-k",
        "3",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(out.display().to_string());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// History lines without the timing fields.
fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("history")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let o = v.as_object_mut().expect("object");
            o.remove("seconds");
            o.remove("pass_seconds");
            v
        })
        .collect()
}

#[test]
fn a_killed_search_resumes_to_the_same_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = dir.path().join("whole");
    let t = ITERATIONS.to_string();
    let out = intrain(&search_args(&whole, &["-T", &t]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = history(&whole);
    assert_eq!(reference.len(), ITERATIONS);

    // Kill at a point that varies from run to run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as usize;
    let kill_after = 1 + nanos % (ITERATIONS - 2);
    let killed = dir.path().join("killed");
    let mut child = common::intrain_command(&search_args(&killed, &["-T", &t]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(killed.join("history.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= kill_after || start.elapsed() > Duration::from_secs(300) {
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let partial = history(&killed).len();
    assert!(partial < ITERATIONS, "killed after {partial} iterations: too late to test resume");

    // Resuming without the space and flags: run.json has them.
    let out = intrain(&[
        "search".into(),
        "--resume".into(),
        killed.display().to_string(),
        "-T".into(),
        t.clone(),
        "--threads".into(),
        "1".into(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(history(&killed), reference, "killed after {partial} iterations");
    assert!(killed.join("best.onnx").exists() && killed.join("progress.png").exists());
}

/// A search by InTrain alone (the paper's InTrain-NAS), stopped after 3 iterations and resumed
/// without `--proxy` (run.json has it), ends with the history of an uninterrupted run: the
/// resumed part scores InTrain alone, not the default aggregate's passes.
#[test]
fn an_intrain_search_resumes_with_its_own_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    let out = intrain(&search_args(&whole, &["-T", "6", "--proxy", "intrain"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = intrain(&search_args(&parts, &["-T", "3", "--proxy", "intrain"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parts_dir = parts.to_str().expect("utf-8");
    let out = intrain(&["search", "--resume", parts_dir, "-T", "6", "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = history(&whole);
    assert_eq!(history(&parts), reference);
    assert!(
        reference.iter().all(|e| e["proxies"].get("az-trainability").is_none()),
        "{reference:?}"
    );
    let out = intrain(&["search", "--resume", parts_dir, "--proxy", "intrain"]);
    assert_eq!(out.status.code(), Some(2), "--proxy with --resume is refused");
}

#[test]
fn starting_over_an_existing_search_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("s");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    std::fs::write(out_dir.join("history.jsonl"), "").expect("write");
    let out = intrain(&search_args(&out_dir, &["-T", "2"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn random_search_respects_the_budget_and_reports_truth() {
    let data = common::shared_data();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("r");
    let truth = data.join("nasbench201/nb201_all.csv");
    let out = intrain(&search_args(
        &out_dir,
        &[
            "-T",
            "6",
            "--strategy",
            "random",
            "--max-params",
            "0.4M",
            "--truth",
            truth.to_str().expect("utf-8"),
            "--json",
        ],
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for e in history(&out_dir) {
        assert!(e["params"].as_u64().expect("params") <= 400_000, "{e}");
    }
    assert!(v["truth"]["best_accuracy"].as_f64().is_some());
    // The data README: best cifar10_test 94.37 (index 6111).
    let optimum = v["truth"]["optimum"].as_f64().expect("optimum");
    assert!((optimum - 94.37).abs() < 0.01, "{optimum}");
}

#[test]
fn an_impossible_budget_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = intrain(&search_args(&dir.path().join("x"), &["--max-params", "10"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no architecture meets the budget"));
}

/// The property names of `definition` in the committed schema `file`, sorted.
fn schema_keys(file: &str, definition: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::root().join("schemas").join(file)).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("json");
    sorted_keys(&schema["$defs"][definition]["properties"])
}

/// The keys of a JSON object, sorted.
fn sorted_keys(v: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

/// `search-table`'s Kendall tau of each proxy over the sampled architectures is the one `eval`
/// reports for the same cells; both outputs have their schema's keys; the oracle row carries the
/// published optimum and no proxy's selection beats it.
#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn search_table_kendall_agrees_with_eval() {
    let data = common::shared_data();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("scores.jsonl");
    let cache = cache.to_str().expect("utf-8");
    let common_args = ["--batch", "4", "--resolution", "8", "--threads", "1", "--cache", cache];
    let mut eval_args = vec!["eval", "--sample", "10", "--bootstrap", "10", "--json", "--out"];
    let out_dir = dir.path().join("eval");
    eval_args.push(out_dir.to_str().expect("utf-8"));
    eval_args.push("--data");
    let tables = data.join("nasbench201");
    eval_args.push(tables.to_str().expect("utf-8"));
    eval_args.extend(common_args);
    eval_args.push("--ablations");
    let out = intrain(&eval_args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // The default rows start with InTrain-Agg, and --ablations adds it without each component.
    let rows: Vec<&str> = eval[0]["correlations"]
        .as_array()
        .expect("correlations")
        .iter()
        .filter(|c| c["target"] == "cifar10_test")
        .map(|c| c["proxy"].as_str().expect("name"))
        .collect();
    let want = ["intrain-agg", "intrain-agg -flops", "intrain-agg -gamma", "intrain-agg -o"];
    assert_eq!(rows[..4], want, "{rows:?}");
    assert!(rows.contains(&"intrain-agg -az-trainability") && rows.contains(&"intrain"));
    for c in eval[0]["correlations"].as_array().expect("correlations") {
        assert!(c["seed_spearman"].is_null(), "one seed: {c}");
        if c["proxy"] == "params" {
            // Within groups of equal parameter count the count ranks nothing.
            assert!(c["kendall_within_params"].is_null(), "{c}");
        }
    }
    let eval_schema = schema_keys("eval.schema.json", "EvalResult");
    assert_eq!(sorted_keys(&eval[0]), eval_schema, "eval's keys against its schema's");
    let truth = data.join("nasbench201/nb201_all.csv");
    let mut table_args = vec!["search-table", "--samples", "10", "--runs", "1", "--from-cache"];
    table_args.extend(["--json", "--truth", truth.to_str().expect("utf-8")]);
    table_args.extend(common_args);
    let out = intrain(&table_args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let want = schema_keys("search-table.schema.json", "Row");
    for row in &rows {
        assert_eq!(sorted_keys(row), want, "a row's keys against the schema's");
    }
    let targets = ["cifar10_test", "cifar100_test", "imagenet16_test"];
    let mut compared = 0;
    for row in &rows[..rows.len() - 1] {
        for (t, target) in targets.iter().enumerate() {
            let want = eval[0]["correlations"]
                .as_array()
                .expect("correlations")
                .iter()
                .find(|c| c["proxy"] == row["proxy"] && c["target"] == *target)
                .map(|c| c["kendall"][0].as_f64().expect("kendall"))
                .expect("eval reports the proxy");
            let got = row["kendall"][t].as_f64().expect("kendall");
            assert!((got - want).abs() < 1e-12, "{} {target}: {got} vs eval {want}", row["proxy"]);
            compared += 1;
        }
    }
    assert!(compared >= 15, "{compared}");
    let oracle = rows.last().expect("oracle");
    assert_eq!(oracle["published"]["accuracy"][0].as_f64(), Some(94.35));
    for row in &rows {
        for t in 0..targets.len() {
            let (got, best) = (&row["mean_std"][t][0], &oracle["mean_std"][t][0]);
            assert!(
                got.as_f64() <= best.as_f64(),
                "{}: {got} above the oracle {best}",
                row["proxy"]
            );
        }
    }
}

/// A proxy whose values are all tied in a sample (TE-NAS's linear regions: every sample its own
/// pattern) selects nothing there: `null` accuracies and selection, not an arbitrary pick.
#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn a_proxy_tied_across_the_sample_selects_nothing() {
    let data = common::shared_data();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("scores.jsonl");
    let truth = data.join("nasbench201/nb201_all.csv");
    let out = intrain(&[
        "search-table",
        "--proxies",
        "linear-regions",
        "--samples",
        "4",
        "--runs",
        "1",
        "--batch",
        "4",
        "--resolution",
        "8",
        "--threads",
        "1",
        "--json",
        "--truth",
        truth.to_str().expect("utf-8"),
        "--cache",
        cache.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let row = &rows[0];
    assert_eq!(row["proxy"], "linear-regions");
    assert!(row["selected"][0].is_null(), "{row}");
    assert!(row["accuracies"][0][0].is_null(), "{row}");
    assert!(rows[1]["mean_std"][0][0].as_f64().is_some(), "the oracle still has its best");
}

/// A search by a rank aggregate (the default, InTrain-Agg) ranks over the distinct
/// architectures of its history: each entry's score is its value over the pool at its
/// iteration, and the result is the best of the final pool.
#[test]
fn a_rank_aggregate_search_ranks_over_its_history() {
    use intrain::scoring::{Proxy, ScoreRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("agg");
    let out = intrain(&search_args(&out_dir, &["-T", "8", "--json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let path = out_dir.join("history.jsonl");
    let text = std::fs::read_to_string(&path).expect("history");
    let entries = intrain::search::history::parse_history(&text, &path).expect("entries");
    assert_eq!(entries.len(), 8);
    let agg = Proxy::named("intrain-agg").expect("registered");
    let value_in_pool = |upto: usize, canonical: &str| -> (Vec<String>, Vec<f64>) {
        let mut seen: Vec<&str> = Vec::new();
        let mut pool: Vec<&ScoreRecord> = Vec::new();
        for e in &entries[..upto] {
            if !seen.contains(&e.canonical.as_str()) {
                seen.push(&e.canonical);
                pool.push(&e.record);
            }
        }
        assert!(seen.contains(&canonical));
        (pool.iter().map(|r| r.arch.clone()).collect(), agg.pool_values(&pool))
    };
    for (i, e) in entries.iter().enumerate() {
        let (archs, values) = value_in_pool(i + 1, &e.canonical);
        let first = entries.iter().position(|x| x.canonical == e.canonical).expect("first");
        let at = archs.iter().position(|a| *a == entries[first].record.arch).expect("in pool");
        assert!(
            (values[at] - e.score).abs() < 1e-12,
            "iteration {i}: {} vs {}",
            e.score,
            values[at]
        );
    }
    let (archs, values) = value_in_pool(entries.len(), &entries[0].canonical);
    let best = (0..values.len()).fold(0, |b, i| if values[i] > values[b] { i } else { b });
    assert_eq!(result["best"]["arch"].as_str(), Some(archs[best].as_str()));
    let score = result["best"]["score"].as_f64().expect("score");
    assert!((score - values[best]).abs() < 1e-12, "{score} vs {}", values[best]);
}
