//! Every spec under testdata/specs/invalid/ is refused with the messages its header expects:
//! lines `# expect-error: <text>` (each must appear in the output).

use crate::common::repo_root;
use medallion_core::plan;

#[tokio::test]
async fn invalid_specs_fail_with_golden_messages() {
    let dir = repo_root().join("testdata/specs/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected a set of broken specs, found {}",
        files.len()
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect-error: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect-error:` line",
            f.display()
        );
        let errors = plan::plan_all(
            std::slice::from_ref(&f),
            &repo_root().join("schemas"),
            Default::default(),
        )
        .await
        .expect_err(&format!("{} should be refused", f.display()));
        let shown = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        for e in &expected {
            assert!(
                shown.contains(e),
                "{}: expected `{e}` in:\n{shown}",
                f.display()
            );
        }
        assert!(
            errors.iter().all(|e| e.file == f.display().to_string()),
            "every message names the file: {shown}"
        );
        assert_eq!(
            errors.len(),
            expected.len(),
            "{}: one message per expected error:\n{shown}",
            f.display()
        );
    }
}
