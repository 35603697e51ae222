//! The one harness of the end-to-end tests: the `dsr` binary run as a person runs it,
//! each test in its own temporary folder with its own database.

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the repository, as a path string.
pub fn repo_file(rel: &str) -> String {
    repo().join(rel).display().to_string()
}

/// The sample subjects shipped in `examples/`.
pub fn sample() -> String {
    repo_file("examples/data/sample-subjects.jsonl")
}

/// The `dsr` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dsr")
}

/// A temporary folder with a database `t.db`, and `dsr` run in it.
pub struct Dsr {
    pub dir: tempfile::TempDir,
    /// Add `--db t.db` before the arguments (else the command chooses).
    pub with_db: bool,
}

impl Default for Dsr {
    fn default() -> Self {
        Self::new()
    }
}

impl Dsr {
    /// An empty folder: no database yet.
    pub fn new() -> Self {
        Dsr {
            dir: tempfile::tempdir().expect("temporary folder"),
            with_db: true,
        }
    }

    /// The sample imported into tenant `default`, with region FR.
    pub fn with_sample() -> Self {
        let d = Dsr::new();
        d.ok(&["tenant", "create", "--region", "FR"]);
        d.ok(&["import", &sample(), "--quiet"]);
        d
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("t.db")
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the folder and returns its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write test file");
        p.display().to_string()
    }

    /// The command, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path());
        if self.with_db {
            c.arg("--db").arg(self.db());
        }
        c.args(args)
            .env_remove("DSR_TENANT")
            .env_remove("DSR_DB")
            .env_remove("DSR_CONFIG")
            .env_remove("RUST_LOG")
            .env("COLUMNS", "80");
        c
    }

    /// Runs and returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run dsr")
    }

    /// Runs with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dsr");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait dsr")
    }

    /// Runs, asserts success, returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs with `--json` added, asserts success, parses standard output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        if !a.contains(&"--json") {
            a.push("--json");
        }
        let text = self.ok(&a);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{a:?}: not JSON ({e}): {text}"))
    }

    /// Runs, asserts failure; returns the exit code and stdout + stderr.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{args:?} should fail: {}",
            stdout(&out)
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("panicked"), "{args:?} panicked: {all}");
        (out.status.code().unwrap_or(-1), all)
    }
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
