//! Locating the fetched inputs for tests: `$MINDSET_NLP_DATA` / `$MINDSET_NLP_MODEL` /
//! `$MINDSET_NLP_IPIP`, or what
//! `infra/fetch-nlp.sh` prints (it downloads them on first use). An error says why neither worked.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// `(model dir, data dir)`.
pub fn fetched() -> (PathBuf, PathBuf) {
    if let (Some(model), Some(data)) = (
        std::env::var_os("MINDSET_NLP_MODEL"),
        std::env::var_os("MINDSET_NLP_DATA"),
    ) {
        return (model.into(), data.into());
    }
    let value = run_fetch();
    (value("MINDSET_NLP_MODEL"), value("MINDSET_NLP_DATA"))
}

/// The IPIP-NEO-120 item file.
pub fn ipip() -> PathBuf {
    if let Some(path) = std::env::var_os("MINDSET_NLP_IPIP") {
        return path.into();
    }
    run_fetch()("MINDSET_NLP_IPIP")
}

/// Runs the fetch script; the returned function reads one of the variables it prints.
fn run_fetch() -> impl Fn(&str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/fetch-nlp.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    move |name: &str| -> PathBuf {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{} printed no {name}: {out}", script.display()))
            .into()
    }
}
