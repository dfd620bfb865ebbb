//! The scoring commands print bitwise the same numbers as when the pins were made: `score` on
//! NAS-Bench-201, chain-space and exported-model targets (several protocols), `check`, batch
//! scoring into a record file, `eval`, `search` and `search-table`.
//!
//! `tests/goldens/make_score_pins.sh` runs the commands; this test runs the same script with the
//! binary under test into a temporary folder and compares every JSON value with the committed
//! pins: the same fields, numbers equal to the last bit. Timings and output paths are left out.

mod common;

use std::path::Path;

use serde_json::Value;

/// Fields that are wall-clock timings or the process's measured memory, not results.
const TIMINGS: [&str; 6] = [
    "seconds",
    "pass_seconds",
    "scoring_seconds",
    "mean_pass_ms",
    "mean_total_ms",
    "process_peak_bytes",
];

/// Fields that name where the run wrote its files (the pins were made in another folder).
const LOCATIONS: [&str; 1] = ["out"];

/// Fields added since the pins were made (the map of proxy values of a score report; each
/// layer's sample count, participation-ratio bound, scale and gate flag; each tensor's value RMS
/// and relative gradient; the input's RMS and the chance-level loss; the policy keys of the scale,
/// loss and gradient checks; the search table's Kendall tau and published result per row; the
/// peak memory of a score);
/// every pinned field must still be there with the same value.
const ADDED: [&str; 23] = [
    "proxies",
    "samples",
    "pr_max",
    "pr_over_max",
    "sample_limited",
    "mean_square",
    "variance",
    "gate",
    "input_rms",
    "value_rms",
    "relative_grad",
    "zero_multiplier",
    "min_pr",
    "max_activation_growth",
    "min_gradient_ratio",
    "chance_loss",
    "max_loss_over_chance",
    "passes",
    "unavailable",
    "conventions",
    "kendall",
    "published",
    "memory",
];

/// Compares two JSON values; numbers by their exact decimal text (serde_json prints the
/// shortest representation that round-trips, so equal text is equal bits).
fn compare(want: &Value, got: &Value, at: &str, diffs: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for k in keys {
                if TIMINGS.contains(&k.as_str()) || LOCATIONS.contains(&k.as_str()) {
                    continue;
                }
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => compare(a, b, &format!("{at}.{k}"), diffs),
                    (Some(_), None) => diffs.push(format!("{at}.{k}: missing")),
                    (None, Some(_)) if ADDED.contains(&k.as_str()) => {}
                    (None, Some(_)) => diffs.push(format!("{at}.{k}: new field")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                diffs.push(format!("{at}: {} items, pinned {}", g.len(), w.len()));
                return;
            }
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                compare(a, b, &format!("{at}[{i}]"), diffs);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.to_string() != b.to_string() => {
            diffs.push(format!("{at}: {b}, pinned {a}"))
        }
        (a, b) if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            diffs.push(format!("{at}: {b}, pinned {a}"))
        }
        (Value::String(a), Value::String(b)) if a != b => {
            diffs.push(format!("{at}: {b:?}, pinned {a:?}"))
        }
        (Value::Bool(a), Value::Bool(b)) if a != b => diffs.push(format!("{at}: {b}, pinned {a}")),
        _ => {}
    }
}

/// The JSON documents of a pin file: one for `.json`, one per line for `.jsonl`.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("pin file");
    let parse =
        |t: &str| serde_json::from_str(t).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "jsonl") {
        text.lines().filter(|l| !l.trim().is_empty()).map(parse).collect()
    } else {
        vec![parse(&text)]
    }
}

#[test]
#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (NAS-Bench-201 tables)")]
fn scoring_commands_print_the_pinned_numbers() {
    let root = common::root();
    let pins = root.join("tests/goldens/pins");
    let dir = tempfile::tempdir().expect("tempdir");
    common::shared_data();
    let status = std::process::Command::new("bash")
        .arg(root.join("tests/goldens/make_score_pins.sh"))
        .arg(env!("CARGO_BIN_EXE_intrain"))
        .arg(dir.path())
        .current_dir(&root)
        .status()
        .expect("bash runs");
    assert!(status.success(), "the pin commands failed: {status}");
    let mut diffs = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&pins).expect("pins folder") {
        let want = entry.expect("entry").path();
        if !want.extension().is_some_and(|e| e == "json" || e == "jsonl") {
            continue;
        }
        let name = want.file_name().expect("name").to_string_lossy().to_string();
        let got = dir.path().join(&name);
        assert!(got.exists(), "{name}: not written by the pin commands");
        let (w, g) = (documents(&want), documents(&got));
        if w.len() != g.len() {
            diffs.push(format!("{name}: {} documents, pinned {}", g.len(), w.len()));
            continue;
        }
        for (i, (a, b)) in w.iter().zip(&g).enumerate() {
            compare(a, b, &format!("{name}#{i}"), &mut diffs);
        }
        files += 1;
    }
    assert!(files >= 12, "only {files} pin files");
    assert!(
        diffs.is_empty(),
        "{} differences from the pins:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(40)].join("\n")
    );
}
