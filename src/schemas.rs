//! The JSON Schemas of intrain's reports and files, committed under `schemas/` so that editors
//! and other tools can validate what intrain writes (`space.schema.json` comes from
//! [`crate::space::spec::json_schema`]).

/// The schemas, by file name under `schemas/`.
pub fn report_schemas() -> Vec<(&'static str, String)> {
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).unwrap_or_default() + "\n";
    vec![
        ("score.schema.json", pretty(schemars::schema_for!(crate::scoring::ScoreOutput))),
        ("policy.schema.json", pretty(schemars::schema_for!(crate::analysis::policy::Policy))),
        ("score-record.schema.json", pretty(schemars::schema_for!(crate::scoring::ScoreRecord))),
        (
            "proxies.schema.json",
            pretty(schemars::schema_for!(Vec<crate::scoring::proxy::ProxyInfo>)),
        ),
        (
            "eval.schema.json",
            pretty(schemars::schema_for!(Vec<crate::experiments::eval_grid::EvalResult>)),
        ),
        (
            "search-table.schema.json",
            pretty(schemars::schema_for!(Vec<crate::experiments::search_table::Row>)),
        ),
        ("merge.schema.json", pretty(schemars::schema_for!(crate::scoring::merge::MergeReport))),
        ("bench-forward.schema.json", pretty(schemars::schema_for!(crate::bench::ForwardReport))),
        ("bench-train.schema.json", pretty(schemars::schema_for!(crate::bench::TrainReport))),
    ]
}
