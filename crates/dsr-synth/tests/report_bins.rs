//! The report binaries as a user runs them: piped into `head`, or given a wrong flag.

use std::process::{Command, Stdio};

/// Runs `bin` with its standard output a pipe whose reader has gone, as in
/// `matching-report | head -1` once `head` has its line.
fn run_with_closed_stdout(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the binary ends");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_closed_pipe_ends_the_report_quietly() {
    let (code, stderr) = run_with_closed_stdout(
        env!("CARGO_BIN_EXE_matching-report"),
        &[
            "--subjects",
            "300",
            "--queries",
            "5",
            "--no-sqlite",
            "--no-snapshot",
        ],
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(141), "{stderr}");
    let (code, stderr) = run_with_closed_stdout(
        env!("CARGO_BIN_EXE_accuracy-report"),
        &["--subjects", "300", "--queries", "2", "--no-peers"],
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(141), "{stderr}");
    let (code, stderr) =
        run_with_closed_stdout(env!("CARGO_BIN_EXE_synth-subjects"), &["--subjects", "50"]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(141), "{stderr}");
}

#[test]
fn a_mistyped_flag_is_an_error_not_a_default() {
    for bin in [
        env!("CARGO_BIN_EXE_matching-report"),
        env!("CARGO_BIN_EXE_accuracy-report"),
        env!("CARGO_BIN_EXE_fit-calibration"),
    ] {
        let out = Command::new(bin)
            .args(["--subject", "10"])
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--subjects"), "{bin}: {stderr}");
        let out = Command::new(bin)
            .args(["--subjects", "lots"])
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{bin}");
    }
}
