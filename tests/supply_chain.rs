//! The dependency tree, offline: every package comes from crates.io (no git or path sources but
//! our own), and every licence expression admits a licence we accept for a tool under
//! MIT OR Apache-2.0. Reads `cargo metadata --locked --offline` for this machine's platform (the
//! packages the build has already downloaded). Security advisories are not checked here: the RustSec database lives on
//! GitHub, which the project's machines cannot reach (README, "Security and limits"). Also: the
//! one function allowed `unsafe` code.

use std::process::Command;

/// Licences a dependency may be under: permissive ones whose terms an MIT OR Apache-2.0 tool
/// meets by keeping notices.
const ACCEPTED: [&str; 14] = [
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "0BSD",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unlicense",
    "CC0-1.0",
    "BSL-1.0",
    "CDLA-Permissive-2.0",
];

/// Whether an SPDX expression (as crates write them: `A OR B`, `A/B`, `(A OR B) AND C`) admits
/// accepted licences only: some alternative of every AND term is accepted.
fn admits(expr: &str) -> bool {
    let expr = expr.replace('/', " OR ");
    let terms: Vec<&str> = split_top(&expr, " AND ");
    !terms.is_empty()
        && terms.iter().all(|t| {
            let t = t.trim().trim_start_matches('(').trim_end_matches(')');
            t.split(" OR ").any(|alt| ACCEPTED.contains(&alt.trim()))
        })
}

/// `s` split at `sep` outside parentheses.
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if depth == 0 && s[i..].starts_with(sep) => {
                out.push(&s[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

#[test]
fn licence_expressions_are_read_as_spdx_means_them() {
    assert!(admits("MIT OR Apache-2.0"));
    assert!(admits("Unlicense/MIT"));
    assert!(admits("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(admits("MIT OR Apache-2.0 OR LGPL-2.1-or-later"));
    assert!(!admits("GPL-3.0-only"));
    assert!(!admits("MIT AND GPL-3.0-only"));
    assert!(!admits(""));
}

#[test]
fn every_dependency_is_from_crates_io_under_an_accepted_licence() {
    // This machine's packages only: a build downloads no other platform's, and offline
    // metadata needs every package it lists.
    let rustc = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
    let info = String::from_utf8_lossy(&rustc.stdout).into_owned();
    let host = info.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc's host");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    assert!(packages.len() > 50, "the whole tree, not only the root");
    let mut problems = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or("?");
        let version = p["version"].as_str().unwrap_or("?");
        match p["source"].as_str() {
            None if name == "intrain" => continue,
            Some("registry+https://github.com/rust-lang/crates.io-index") => {}
            other => problems.push(format!("{name} {version}: source {other:?}, not crates.io")),
        }
        match p["license"].as_str() {
            Some(l) if admits(l) => {}
            other => problems.push(format!("{name} {version}: licence {other:?}")),
        }
    }
    assert!(problems.is_empty(), "dependencies outside the policy:\n{}", problems.join("\n"));
}

/// The lint denies `unsafe` everywhere; one function may allow it (the registration of ONNX
/// Runtime's shared arena, which the `ort` crate does not wrap). A second allowance is a
/// decision to make in review, not by accident.
#[test]
fn unsafe_code_is_allowed_in_one_function_only() {
    fn visit(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                visit(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                let lines: Vec<&str> = text.lines().collect();
                // Any attribute naming the lint (allow, expect, in a list): the next line that
                // is not an attribute says what it applies to.
                for (i, line) in lines.iter().enumerate() {
                    if line.contains("unsafe_code") {
                        let item = lines[i + 1..]
                            .iter()
                            .find(|l| !l.trim_start().starts_with("#["))
                            .copied()
                            .unwrap_or_default();
                        found.push(format!("{}: {}", path.display(), item.trim()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    visit(&root.join("src"), &mut found);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("fn register_shared_arena("), "{found:#?}");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("unsafe_code = \"deny\""));
}
