//! The README's walkthrough ("Use it on your own data"), run as written, top to bottom,
//! in a fresh folder with the repository's `examples/`: a command that stops fails this
//! test with its output.

use crate::harness::{bin, repo};
use std::path::Path;
use std::process::Command;

/// The shell lines of the README section `heading`, in order (`cargo install` left out:
/// the test runs the `dsr` it built).
fn section_commands(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in rest[..end].lines() {
        if line.trim_start().starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if in_sh && !line.trim().is_empty() && !line.trim_start().starts_with("cargo install") {
            out.push(line.to_owned());
        }
    }
    out
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = section_commands(&readme, "## Use it on your own data");
    assert!(lines.len() > 10, "walkthrough not found: {lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("ID ") && !l.ends_with(" ID")),
        "a placeholder is left: {lines:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(repo().join("examples"), dir.path().join("examples")).unwrap();
    let script = format!("set -eux\n{}\n", lines.join("\n"));
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("DSR_DB")
        .env_remove("DSR_TENANT")
        .env_remove("DSR_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the walkthrough stopped:\n{text}");
    assert!(!text.contains("panicked"), "{text}");
    // What it claims happened, happened.
    assert!(dir.path().join("export.json").exists(), "{text}");
    assert!(dir.path().join("export/request.json").exists(), "{text}");
    assert!(text.contains("signature and"), "{text}");
    assert!(text.contains("the example's mistakes are found"), "{text}");
}
