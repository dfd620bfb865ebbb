//! Record files written by earlier versions still open, give the same records, and the same
//! records are written back byte for byte.
//!
//! `tests/goldens/records/tricky.{csv,jsonl}` were written by the record writer that predates
//! the `csv` crate (set `INTRAIN_REGEN_RECORD_GOLDENS=1` to rewrite them, only when the file
//! format is meant to change); `fbnet_sample.csv` is the output of
//! `intrain score models/spaces/fbnet_cifar.yaml --sample 3 --batch 8 --seed 1 -o FILE.csv`
//! from that version.

mod common;

use std::path::{Path, PathBuf};

use intrain::scoring::{RecordFile, ScoreRecord};

fn goldens() -> PathBuf {
    common::root().join("tests/goldens/records")
}

#[allow(clippy::too_many_arguments)]
fn rec(
    key: &str,
    arch: &str,
    intrain: f64,
    gamma: f64,
    o: f64,
    loss: f64,
    params: u64,
    seconds: f64,
    pass_seconds: f64,
) -> ScoreRecord {
    ScoreRecord {
        key: key.into(),
        arch: arch.into(),
        intrain,
        gamma,
        o,
        layers: 18,
        tensors: 156,
        dead_layers: 2,
        non_finite: 1,
        loss,
        params,
        flops: params.saturating_mul(141),
        macs: params.saturating_mul(123),
        seconds,
        pass_seconds,
        proxies: Default::default(),
    }
}

const NB201_KEY: &str = "nas-bench-201@63ff2a6b/b8/r64/s1/kaiming/bn-train/grammar/all";
const CHAIN_KEY: &str = "fbnet-cifar@86420361/b8/r64/s1/kaiming/bn-train/grammar/all";

/// Records with finite numbers and arch strings that need quoting in CSV (or escaping in JSON).
fn finite_records() -> Vec<ScoreRecord> {
    vec![
        rec(
            NB201_KEY,
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
            887.6250325128218,
            44.926808100740146,
            57.17367970487033,
            2.204540729522705,
            157306,
            1.004623094,
            0.233859103,
        ),
        rec(
            CHAIN_KEY,
            "ir_k3_e1|w32:ir-k5-e3,conv-k1-relu,skip|w64:skip,skip,ir-k3-e3|w96:conv-k3-relu",
            0.1 + 0.2,
            -0.0,
            1e-300,
            f64::MAX,
            u64::MAX,
            12345.678949,
            0.000004999,
        ),
        rec(
            "key, with a comma",
            "a \"quoted\" arch, with commas: and colons",
            5e-324,
            -1.5e300,
            0.0,
            1.0,
            0,
            0.0,
            0.0,
        ),
        rec(CHAIN_KEY, " spaced arch ", 1.0, 2.0, 3.0, 4.0, 1, 99999.99999, 1.0),
        rec(CHAIN_KEY, "unicode: γ→∞ ß", -2.5, 1e21, 1e-7, 123456789.0, 42, 0.5, 0.25),
        rec(CHAIN_KEY, "\"", 1.0, 1.0, 1.0, 1.0, 1, 1.0, 1.0),
        rec(CHAIN_KEY, "", 1.0, 1.0, 1.0, 1.0, 1, 1.0, 1.0),
    ]
}

/// CSV also keeps non-finite numbers (JSON writes them as `null`, which does not read back).
fn csv_records() -> Vec<ScoreRecord> {
    let mut v = finite_records();
    v.push(rec(
        NB201_KEY,
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        f64::NAN,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NAN,
        7,
        f64::NAN,
        f64::INFINITY,
    ));
    v
}

/// What reading gives back: CSV keeps seconds to 4 and pass seconds to 5 decimals.
fn as_read_from_csv(mut r: ScoreRecord) -> ScoreRecord {
    r.seconds = format!("{:.4}", r.seconds).parse().expect("number");
    r.pass_seconds = format!("{:.5}", r.pass_seconds).parse().expect("number");
    r
}

/// Records compared through `Debug`, so that NaN equals NaN and -0 differs from 0.
fn same(a: &[ScoreRecord], b: &[ScoreRecord]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn write_fresh(path: &Path, records: &[ScoreRecord]) -> Vec<u8> {
    let mut f = RecordFile::open(path).expect("open a new record file");
    for r in records {
        f.append(r.clone()).expect("append");
    }
    drop(f);
    std::fs::read(path).expect("read back")
}

/// What the current writer writes for the records of an old CSV file: the old bytes with a
/// `proxies` column, empty on every row (old JSONL files are written unchanged).
fn as_written_now(name: &str, old: &[u8]) -> Vec<u8> {
    if !name.ends_with(".csv") {
        return old.to_vec();
    }
    let text = String::from_utf8(old.to_vec()).expect("utf-8");
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push_str(if i == 0 { ",proxies\n" } else { ",\n" });
    }
    out.into_bytes()
}

/// Opens a copy of a golden file, checks it is left untouched, then writes its records into a
/// fresh file and compares the bytes (see [`as_written_now`]).
fn reopen_and_rewrite(name: &str) -> Vec<ScoreRecord> {
    let golden = std::fs::read(goldens().join(name)).expect("golden record file");
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join(name);
    std::fs::write(&copy, &golden).expect("copy");
    let records = RecordFile::open(&copy).expect("golden opens").records().to_vec();
    assert_eq!(std::fs::read(&copy).expect("copy"), golden, "{name}: opening changed the file");
    let fresh = dir.path().join(format!("fresh-{name}"));
    let written = write_fresh(&fresh, &records);
    let golden = as_written_now(name, &golden);
    assert!(
        written == golden,
        "{name}: the same records are written differently:\n{}\nwas:\n{}",
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&golden)
    );
    let again = RecordFile::open(&fresh).expect("reopen").records().to_vec();
    assert!(same(&again, &records), "{name}: records differ after a second round trip");
    records
}

#[test]
fn goldens_can_be_regenerated_on_request() {
    if std::env::var_os("INTRAIN_REGEN_RECORD_GOLDENS").is_none() {
        return;
    }
    std::fs::create_dir_all(goldens()).expect("golden folder");
    for (name, records) in [("tricky.csv", csv_records()), ("tricky.jsonl", finite_records())] {
        let path = goldens().join(name);
        let _ = std::fs::remove_file(&path);
        write_fresh(&path, &records);
    }
}

#[test]
fn old_csv_record_file_opens_and_round_trips_byte_identically() {
    let read = reopen_and_rewrite("tricky.csv");
    let want: Vec<ScoreRecord> = csv_records().into_iter().map(as_read_from_csv).collect();
    assert!(same(&read, &want), "records read:\n{read:#?}\nwant:\n{want:#?}");
}

#[test]
fn old_jsonl_record_file_opens_and_round_trips_byte_identically() {
    let read = reopen_and_rewrite("tricky.jsonl");
    assert!(same(&read, &finite_records()), "records read:\n{read:#?}");
}

#[test]
fn csv_written_by_the_score_command_round_trips_byte_identically() {
    let read = reopen_and_rewrite("fbnet_sample.csv");
    assert_eq!(read.len(), 3);
    assert_eq!(
        read[1].arch,
        "ir_k3_e1|w32:ir-k5-e3,conv-k1-relu,skip|w64:skip,skip,ir-k3-e3|w96:conv-k3-relu"
    );
    assert_eq!(read[1].intrain, 1.7226689363897808e2);
    assert_eq!(read[1].pass_seconds, 0.26983);
}

#[test]
fn a_partial_last_line_of_an_old_file_is_dropped_and_appends_follow_the_old_bytes() {
    for name in ["tricky.csv", "tricky.jsonl"] {
        let golden = std::fs::read(goldens().join(name)).expect("golden record file");
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join(name);
        let mut cut = golden.clone();
        cut.extend_from_slice(b"nas-bench-201@63ff2a6b/b8,\"|a~0|,");
        std::fs::write(&copy, &cut).expect("copy");
        let mut f = RecordFile::open(&copy).expect("opens");
        let n = f.records().len();
        // A new architecture (a line for one already there merges into its record).
        let mut extra = finite_records().remove(1);
        extra.arch = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|".into();
        f.append(extra.clone()).expect("append");
        drop(f);
        let text = std::fs::read(&copy).expect("read");
        assert!(text.starts_with(&golden), "{name}: the old bytes changed");
        let f = RecordFile::open(&copy).expect("reopen");
        assert_eq!(f.records().len(), n + 1, "{name}");
        assert!(f.get(&extra.key, &extra.arch).is_some(), "{name}");
    }
}
