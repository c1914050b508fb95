//! Shared by the CLI test binaries: a copy of the example project in a temporary folder.

use std::path::{Path, PathBuf};

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
