//! The committed JSON Schemas of reports (`score --json`), check policies and score records are
//! the ones the code generates (`INTRAIN_REGEN_SCHEMAS=1 cargo test --test report_schemas`
//! rewrites them), and `score --json` output has exactly the schema's top-level keys.

mod common;

use std::process::Command;

#[test]
fn report_schemas_are_current() {
    for (file, generated) in intrain::schemas::report_schemas() {
        let path = common::root().join("schemas").join(file);
        if std::env::var_os("INTRAIN_REGEN_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).expect("write schema");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/{file} is stale: run INTRAIN_REGEN_SCHEMAS=1 cargo test --test report_schemas"
        );
    }
}

#[test]
fn score_json_has_the_schema_keys() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("schemas/score.schema.json")).expect("schema"),
    )
    .expect("json");
    let out = Command::new(env!("CARGO_BIN_EXE_intrain"))
        .args(["score", "models/onnx/tinyresnet_ts_unfolded.onnx", "--batch", "4", "--json"])
        .current_dir(common::root())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<&String> = v.as_object().expect("object").keys().collect();
    let mut want: Vec<&String> =
        schema["properties"].as_object().expect("properties").keys().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for k in schema["required"].as_array().expect("required") {
        assert!(v.get(k.as_str().expect("str")).is_some(), "missing {k}");
    }
}
