//! The functions under `functions/`, the workspace members, the SAM template's functions and the
//! sample events agree: every function is declared, built with cargo-lambda, and has samples.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn function_dirs() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn template_declares_every_function_and_only_those() {
    let template = read("infra/template.yaml");
    let binaries: BTreeSet<String> =
        template.lines().filter_map(|l| l.trim().strip_prefix("Binary:")).map(|b| b.trim().to_string()).collect();
    assert_eq!(binaries, function_dirs(), "template Binary entries vs functions/");
    let build_methods = template.matches("BuildMethod: rust-cargolambda").count();
    assert_eq!(build_methods, binaries.len(), "every function is built with cargo-lambda");
    assert!(template.contains("FunctionResponseTypes: [ReportBatchItemFailures]"));
    assert!(template.contains("deadLetterTargetArn"));
}

#[test]
fn every_function_is_a_member_named_after_its_folder_with_samples() {
    let manifest = read("Cargo.toml");
    let events: Vec<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for f in function_dirs() {
        assert!(manifest.contains(&format!("\"functions/{f}\"")), "{f} is a workspace member");
        let own = read(&format!("functions/{f}/Cargo.toml"));
        assert!(own.contains(&format!("name = \"{f}\"")), "crate name = folder name = binary name for {f}");
        assert!(events.iter().any(|e| e.starts_with(&format!("{f}."))), "events/{f}.<case>.json exists");
    }
    for e in &events {
        let f = e.split('.').next().unwrap_or_default();
        assert!(function_dirs().contains(f), "events/{e} belongs to no function");
        let v: serde_json::Value =
            serde_json::from_str(&read(&format!("events/{e}"))).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert!(v.is_object());
    }
}
