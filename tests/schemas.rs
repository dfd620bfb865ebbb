//! The committed JSON Schema of the search-space grammar is the one the code generates
//! (`INTRAIN_REGEN_SCHEMAS=1 cargo test --test schemas` rewrites it, and fails while that changes
//! anything so that the new file gets reviewed and committed), and it describes the shipped
//! spaces' keys.

mod common;

#[test]
fn space_schema_is_current() {
    let generated = intrain::space::spec::json_schema();
    common::check_generated(
        "INTRAIN_REGEN_SCHEMAS",
        "schemas",
        &[("schemas/space.schema.json", &generated)],
    );
    let committed = std::fs::read_to_string(common::root().join("schemas/space.schema.json"))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    let props = v["properties"].as_object().expect("properties");
    for key in ["name", "input", "ops", "cell", "stem", "stages", "head"] {
        assert!(props.contains_key(key), "schema lacks '{key}'");
    }
    assert_eq!(v["additionalProperties"], serde_json::json!(false), "unknown keys are errors");
}
