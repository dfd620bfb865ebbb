//! The committed JSON Schema of the search-space grammar is the one the code generates
//! (`INTRAIN_REGEN_SCHEMAS=1 cargo test --test schemas` rewrites it), and it describes the
//! shipped spaces' keys.

mod common;

#[test]
fn space_schema_is_current() {
    let path = common::root().join("schemas/space.schema.json");
    let generated = intrain::space::spec::json_schema();
    if std::env::var_os("INTRAIN_REGEN_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/space.schema.json is stale: run INTRAIN_REGEN_SCHEMAS=1 cargo test --test schemas"
    );
    let v: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    let props = v["properties"].as_object().expect("properties");
    for key in ["name", "input", "ops", "cell", "stem", "stages", "head"] {
        assert!(props.contains_key(key), "schema lacks '{key}'");
    }
    assert_eq!(v["additionalProperties"], serde_json::json!(false), "unknown keys are errors");
}
