//! Tests of job specs: parsing and the static checks.

use super::*;

fn parse(text: &str) -> Result<Job, SpecError> {
    crate::yaml::parse::<JobSpec>("jobs/t.yaml", text).map(|spec| Job {
        file: "jobs/t.yaml".into(),
        spec,
        content_sha256: None,
    })
}

const BASE: &str = "pipeline: p\nbronze:\n  table: bronze.p\n  schema: p@1\n  source: { files: { path: in/*.ndjson, format: ndjson } }\n";

#[test]
fn misspelled_on_fail_names_field_and_choices() {
    let text = format!(
        "{BASE}silver:\n  table: silver.p\n  rules:\n    - {{ name: a, check: \"x > 0\", on_fail: drop }}\n    - {{ name: b, check: {{ not_null: x }}, on_fail: qurantine }}\n"
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(e.path, "silver.rules[1].on_fail");
    assert!(
        e.message.contains("unknown variant `qurantine`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("quarantine"), "{}", e.message);
}

#[test]
fn checks_parse_in_both_forms() {
    let text = format!(
        "{BASE}silver:\n  table: silver.p\n  rules:\n    - {{ name: a, check: \"x > 0\" }}\n    - {{ name: b, check: {{ accepted_values: {{ column: s, values: [a, 1] }} }} }}\n    - {{ name: c, check: {{ unique: [k1, k2] }}, on_fail: warn }}\n"
    );
    let job = parse(&text).unwrap();
    let rules = &job.spec.silver.as_ref().unwrap().rules;
    assert_eq!(rules[0].check, Check::Sql("x > 0".into()));
    assert_eq!(rules[0].on_fail, OnFail::Fail);
    assert!(
        matches!(&rules[1].check, Check::Builtin(BuiltinCheck::AcceptedValues(a)) if a.values == vec![Scalar::Str("a".into()), Scalar::Int(1)])
    );
    assert!(
        matches!(&rules[2].check, Check::Builtin(BuiltinCheck::Unique(u)) if u.columns() == vec!["k1", "k2"])
    );
    assert!(job.check().is_empty(), "{:?}", job.check());
}

#[test]
fn static_checks_collect_every_problem() {
    let text = "pipeline: \"bad name\"\nbronze:\n  table: Bronze\n  schema: nope\n  source: { files: { path: x, format: csv } }\nsilver:\n  table: bronze.p\n  rules:\n    - { name: r, check: { row_count: { min: 5, max: 1 } }, on_fail: drop }\n    - { name: r, check: { regex: { column: a, pattern: \"(\" } } }\n";
    let job = parse(text).unwrap();
    let errors = job.check();
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "pipeline",
        "bronze.table",
        "bronze.schema",
        "silver.rules[0].on_fail",
        "silver.rules[0].check.row_count",
        "silver.rules[1].name",
        "silver.rules[1].check.regex.pattern",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
    }
}

#[test]
fn freshness_is_a_duration_and_names_its_field() {
    let ok = parse(&format!("{BASE}freshness: {{ expect_every: 24h }}\n")).unwrap();
    let f = ok.spec.freshness.as_ref().unwrap();
    assert_eq!(f.interval().unwrap().as_secs(), 86400);
    assert!(ok.check().is_empty());
    let days = parse(&format!("{BASE}freshness: {{ expect_every: 7d }}\n")).unwrap();
    assert_eq!(
        days.spec.freshness.unwrap().interval().unwrap().as_secs(),
        7 * 86400
    );
    let bad = parse(&format!("{BASE}freshness: {{ expect_every: daily }}\n")).unwrap();
    let e = bad.check();
    assert_eq!(e.len(), 1, "{e:?}");
    let text = e[0].to_string();
    assert!(
        text.contains("jobs/t.yaml") && text.contains("freshness.expect_every"),
        "{text}"
    );
    let zero = parse(&format!("{BASE}freshness: {{ expect_every: 0h }}\n")).unwrap();
    assert!(zero.check()[0].to_string().contains("zero"));
    let unknown = parse(&format!("{BASE}freshness: {{ every: 24h }}\n")).unwrap_err();
    assert!(unknown.to_string().contains("freshness"), "{unknown}");
}

/// A CSV delimiter must be one ASCII character that neither quotes nor ends a record.
#[test]
fn a_csv_delimiter_that_quotes_or_ends_records_is_refused() {
    let with = |delimiter: &str| {
        parse(&format!(
            "pipeline: p\nbronze:\n  table: bronze.p\n  schema: p@1\n  source: {{ files: {{ path: in/*.csv, format: csv, csv: {{ delimiter: {delimiter} }} }} }}\n"
        ))
        .unwrap()
        .check()
        .into_iter()
        .map(|e| e.path)
        .collect::<Vec<_>>()
    };
    for bad in ["'\"'", "\"\\r\"", "\"\\n\"", "§"] {
        assert_eq!(
            with(bad),
            vec!["bronze.source.files.csv.delimiter"],
            "{bad}"
        );
    }
    for good in ["\";\"", "\"\\t\"", "\"|\""] {
        assert!(with(good).is_empty(), "{good}: {:?}", with(good));
    }
}
