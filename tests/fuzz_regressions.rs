//! The fuzz targets' bodies (`intrain::fuzzing`) over their committed corpora
//! (`tests/fuzz/seeds/<target>/`) and over every input a fuzzer once crashed on
//! (`tests/fuzz/regressions/<target>/`), under the fuzzers' limits: each input is read or
//! refused, never a panic. This is the short, deterministic smoke run of every target that CI
//! makes; `cargo fuzz` (README, "Security and limits") makes the long ones.

mod common;

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.expect("entry").path();
            (path.display().to_string(), std::fs::read(&path).expect("read input"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_reads_its_corpus_and_past_crashes_without_panicking() {
    intrain::fuzzing::install_fuzzing_limits();
    let fuzz = common::root().join("tests/fuzz");
    let mut crashes = 0;
    for (target, body) in intrain::fuzzing::TARGETS {
        assert!(
            fuzz.join("fuzz_targets").join(format!("{target}.rs")).is_file(),
            "target {target} has a fuzz_targets file"
        );
        let seeds = inputs(&fuzz.join("seeds").join(target));
        assert!(seeds.len() >= 3, "target {target}: a committed corpus of a few inputs");
        assert!(
            fuzz.join("dict").join(format!("{target}.dict")).is_file(),
            "target {target} has a dictionary"
        );
        let past = inputs(&fuzz.join("regressions").join(target));
        crashes += past.len();
        for (name, bytes) in seeds.iter().chain(&past) {
            let run = std::panic::catch_unwind(|| body(bytes));
            assert!(run.is_ok(), "target {target} panics on {name}");
        }
    }
    assert!(crashes >= 1, "the crash the loader's first fuzzing found is kept");
}
