//! The committed JSON Schemas of reports (`score --json`), check policies and score records are
//! the ones the code generates (`INTRAIN_REGEN_SCHEMAS=1 cargo test --test report_schemas`
//! rewrites them, and fails while that changes anything so that they get reviewed and committed),
//! and `score --json` and `bench --json` output has exactly the schema's top-level keys.

mod common;

#[test]
fn report_schemas_are_current() {
    let files: Vec<(String, String)> = intrain::schemas::report_schemas()
        .into_iter()
        .map(|(file, generated)| (format!("schemas/{file}"), generated))
        .collect();
    common::check_generated("INTRAIN_REGEN_SCHEMAS", "report_schemas", &files);
}

/// Runs intrain with `args` and checks that its JSON has exactly the top-level keys of the
/// committed schema `schema_file`, the required ones included.
fn assert_json_has_schema_keys(schema_file: &str, args: &[&str]) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("schemas").join(schema_file)).expect("schema"),
    )
    .expect("json");
    let out = common::intrain(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<&String> = v.as_object().expect("object").keys().collect();
    let mut want: Vec<&String> =
        schema["properties"].as_object().expect("properties").keys().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{schema_file}");
    for k in schema["required"].as_array().expect("required") {
        assert!(v.get(k.as_str().expect("str")).is_some(), "{schema_file}: missing {k}");
    }
}

#[test]
fn score_json_has_the_schema_keys() {
    assert_json_has_schema_keys(
        "score.schema.json",
        &["score", "models/onnx/tinyresnet_ts_unfolded.onnx", "--batch", "4", "--json"],
    );
}

#[test]
fn bench_json_has_the_schema_keys_with_peak_memory() {
    let small = ["--batch", "2", "--resolution", "16", "--warmup", "0", "--iters", "1", "--json"];
    for (what, schema) in
        [("forward", "bench-forward.schema.json"), ("train", "bench-train.schema.json")]
    {
        let mut args = vec!["bench", what];
        args.extend(small);
        assert_json_has_schema_keys(schema, &args);
    }
}
