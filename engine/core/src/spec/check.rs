//! The static checks of a job spec (no schema, no IO): every problem at once.

use super::*;

/// The problems found so far, each naming the spec file and the field.
struct Errors<'a> {
    file: &'a str,
    out: Vec<SpecError>,
}

impl Errors<'_> {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.out
            .push(SpecError::new(self.file, path, message.into()));
    }
}

impl Job {
    /// Static checks that need no schema and no IO. Returns every problem.
    pub fn check(&self) -> Vec<SpecError> {
        let s = &self.spec;
        let mut e = Errors {
            file: &self.file,
            out: Vec::new(),
        };
        check_names(s, &mut e);
        check_bronze(&s.bronze, &mut e);
        if let Some(silver) = &s.silver {
            let mut names = HashSet::new();
            for (i, r) in silver.rules.iter().enumerate() {
                check_rule(&format!("silver.rules[{i}]"), r, &mut names, &mut e);
            }
            if silver.dedupe.as_ref().is_some_and(|d| d.keys.is_empty()) {
                e.add("silver.dedupe.keys", "list at least one key column");
            }
        }
        for (i, g) in s.gold.iter().enumerate() {
            if g.sql.trim().is_empty() {
                e.add(&format!("gold[{i}].sql"), "the query is empty");
            }
        }
        if let Some(Err(m)) = s.freshness.as_ref().map(Freshness::interval) {
            e.add("freshness.expect_every", m);
        }
        // Gold without Silver is allowed (Gold may read other pipelines' tables).
        e.out
    }
}

/// The pipeline's name, and its tables: valid names, none written twice.
fn check_names(s: &JobSpec, e: &mut Errors<'_>) {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if s.pipeline.is_empty() || !s.pipeline.chars().all(valid) {
        e.add(
            "pipeline",
            format!("`{}`: use letters, digits, `_` and `-` only", s.pipeline),
        );
    }
    let mut tables: Vec<(String, String)> = vec![("bronze.table".into(), s.bronze.table.clone())];
    if let Some(silver) = &s.silver {
        tables.push(("silver.table".into(), silver.table.clone()));
        if let Some(q) = &silver.quarantine_table {
            tables.push(("silver.quarantine_table".into(), q.clone()));
        }
    }
    for (i, g) in s.gold.iter().enumerate() {
        tables.push((format!("gold[{i}].table"), g.table.clone()));
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (path, t) in &tables {
        match TableName::parse(t) {
            Err(m) => e.add(path, m),
            Ok(name) if !seen.insert(name.to_string()) => e.add(
                path,
                format!("table `{t}` is written twice by this pipeline"),
            ),
            Ok(_) => {}
        }
    }
}

/// The pinned schema reference and the source.
fn check_bronze(b: &BronzeSpec, e: &mut Errors<'_>) {
    if crate::schema::parse_reference(&b.schema).is_none() {
        e.add(
            "bronze.schema",
            format!(
                "`{}` is not a schema reference; write `<dataset>@<version>`, e.g. `orders@1`",
                b.schema
            ),
        );
    }
    match &b.source {
        SourceSpec::Files(files) => {
            if files.path.trim().is_empty() {
                e.add("bronze.source.files.path", "must not be empty");
            } else if let Err(err) = glob::Pattern::new(&files.path) {
                e.add(
                    "bronze.source.files.path",
                    format!("not a valid glob: {err}"),
                );
            }
            if files.format == FileFormat::Parquet
                && !matches!(files.compression, Compression::Auto | Compression::None)
            {
                e.add(
                    "bronze.source.files.compression",
                    "Parquet files compress their pages themselves; remove `compression`",
                );
            }
            if files.csv.is_some() && files.format != FileFormat::Csv {
                e.add("bronze.source.files.csv", "CSV options need `format: csv`");
            }
            if files.csv.as_ref().is_some_and(|csv| {
                !csv.delimiter.is_ascii() || matches!(csv.delimiter, '"' | '\r' | '\n')
            }) {
                e.add(
                    "bronze.source.files.csv.delimiter",
                    "must be one ASCII character other than `\"`, `\\r` and `\\n` (they quote and end records)",
                );
            }
        }
        SourceSpec::Kafka(kafka) => {
            for (path, message) in kafka.check() {
                e.add(&path, message);
            }
        }
    }
}

/// One quality rule at `p` (`silver.rules[i]`): a unique name and a check that can run.
fn check_rule(p: &str, r: &RuleSpec, names: &mut HashSet<String>, e: &mut Errors<'_>) {
    if r.name.trim().is_empty() {
        e.add(&format!("{p}.name"), "must not be empty");
    } else if !names.insert(r.name.clone()) {
        e.add(
            &format!("{p}.name"),
            format!("duplicate rule name `{}`", r.name),
        );
    }
    match &r.check {
        Check::Builtin(BuiltinCheck::RowCount(rc)) => {
            if !matches!(r.on_fail, OnFail::Warn | OnFail::Fail) {
                e.add(
                    &format!("{p}.on_fail"),
                    format!(
                        "`{}` is not possible for row_count, a table-level check; use warn or fail",
                        r.on_fail
                    ),
                );
            }
            if rc.min.is_none() && rc.max.is_none() {
                e.add(&format!("{p}.check.row_count"), "give `min`, `max` or both");
            }
            if let (Some(a), Some(b)) = (rc.min, rc.max) {
                if a > b {
                    e.add(
                        &format!("{p}.check.row_count"),
                        format!("min ({a}) is greater than max ({b})"),
                    );
                }
            }
        }
        Check::Builtin(BuiltinCheck::Between(b)) if b.min.is_none() && b.max.is_none() => {
            e.add(&format!("{p}.check.between"), "give `min`, `max` or both");
        }
        Check::Builtin(BuiltinCheck::Regex(rx)) => {
            if let Err(err) = regex::Regex::new(&rx.pattern) {
                e.add(
                    &format!("{p}.check.regex.pattern"),
                    format!("not a valid regular expression: {err}"),
                );
            }
        }
        Check::Builtin(BuiltinCheck::AcceptedValues(av)) if av.values.is_empty() => {
            e.add(
                &format!("{p}.check.accepted_values.values"),
                "list at least one value",
            );
        }
        Check::Sql(sql) if sql.trim().is_empty() => {
            e.add(&format!("{p}.check"), "the SQL expression is empty");
        }
        _ => {}
    }
}
