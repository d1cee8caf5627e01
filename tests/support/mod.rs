//! Helpers shared by the integration tests: run the built binary on a config file.

#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The rmanager binary cargo built for these tests.
pub fn rmanager() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmanager"))
}

/// The result of one run: exit code and both streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output
                .status
                .code()
                .expect("rmanager exited by itself, not by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `rmanager ARGS` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    rmanager()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rmanager starts")
        .into()
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("test file written");
    path
}

/// Validates `text` as rmanager.json in a fresh directory.
pub fn validate(text: &str) -> Run {
    let dir = tempfile::tempdir().expect("temporary directory");
    write(dir.path(), "rmanager.json", text);
    run_in(dir.path(), &["--validate"])
}

/// The repository's root, where examples/ and schema/ are.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
