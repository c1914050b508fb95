//! Shared by the CLI test binaries: a copy of the example project in a temporary folder, and
//! running the binary in it.
#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};

pub mod aws;

/// Runs the binary in `dir` (with the debug-build fault hook `MEDALLION_FAULT` set to `fault`,
/// or unset): exit code (None if killed), stdout, stderr.
pub fn medallion_with_fault(
    dir: &Path,
    fault: Option<&str>,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medallion"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("MEDALLION_FAULT");
    if let Some(f) = fault {
        cmd.env("MEDALLION_FAULT", f);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (p, target) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// A temporary copy of jobs/, schemas/, testdata/ and environments.yaml.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["jobs", "schemas", "testdata"] {
        copy_dir(&root().join(d), &dir.path().join(d));
    }
    std::fs::copy(
        root().join("environments.yaml"),
        dir.path().join("environments.yaml"),
    )
    .unwrap();
    dir
}

/// Replaces the first `from` in `dir/file` with `to`; the text must be there (an example
/// that changed must update its test, not make it pass vacuously).
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "{file} does not contain {from:?}: update this test"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}
