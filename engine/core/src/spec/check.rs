//! The static checks of a job spec (no schema, no IO): every problem at once.

use super::*;

impl Job {
    /// Static checks that need no schema and no IO. Returns every problem.
    pub fn check(&self) -> Vec<SpecError> {
        let f = &self.file;
        let s = &self.spec;
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<SpecError>, path: &str, msg: String| {
            errors.push(SpecError::new(f, path, msg))
        };

        if s.pipeline.is_empty()
            || !s
                .pipeline
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            err(
                &mut errors,
                "pipeline",
                format!("`{}`: use letters, digits, `_` and `-` only", s.pipeline),
            );
        }
        let mut tables: Vec<(String, String)> =
            vec![("bronze.table".into(), s.bronze.table.clone())];
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
                Err(m) => err(&mut errors, path, m),
                Ok(name) => {
                    if !seen.insert(name.to_string()) {
                        err(
                            &mut errors,
                            path,
                            format!("table `{t}` is written twice by this pipeline"),
                        );
                    }
                }
            }
        }
        if crate::schema::parse_reference(&s.bronze.schema).is_none() {
            err(
                &mut errors,
                "bronze.schema",
                format!(
                    "`{}` is not a schema reference; write `<dataset>@<version>`, e.g. `orders@1`",
                    s.bronze.schema
                ),
            );
        }
        match &s.bronze.source {
            SourceSpec::Files(files) => {
                if files.path.trim().is_empty() {
                    err(
                        &mut errors,
                        "bronze.source.files.path",
                        "must not be empty".into(),
                    );
                } else if let Err(e) = glob::Pattern::new(&files.path) {
                    err(
                        &mut errors,
                        "bronze.source.files.path",
                        format!("not a valid glob: {e}"),
                    );
                }
                if files.csv.is_some() && files.format != FileFormat::Csv {
                    err(
                        &mut errors,
                        "bronze.source.files.csv",
                        "CSV options need `format: csv`".into(),
                    );
                }
                if let Some(csv) = &files.csv {
                    if !csv.delimiter.is_ascii() {
                        err(
                            &mut errors,
                            "bronze.source.files.csv.delimiter",
                            "must be one ASCII character".into(),
                        );
                    }
                }
            }
            SourceSpec::Kafka(kafka) => {
                for (path, message) in kafka.check() {
                    err(&mut errors, &path, message);
                }
            }
        }
        if let Some(silver) = &s.silver {
            let mut names = HashSet::new();
            for (i, r) in silver.rules.iter().enumerate() {
                let p = format!("silver.rules[{i}]");
                if r.name.trim().is_empty() {
                    err(
                        &mut errors,
                        &format!("{p}.name"),
                        "must not be empty".into(),
                    );
                } else if !names.insert(r.name.clone()) {
                    err(
                        &mut errors,
                        &format!("{p}.name"),
                        format!("duplicate rule name `{}`", r.name),
                    );
                }
                match &r.check {
                    Check::Builtin(BuiltinCheck::RowCount(rc)) => {
                        if !matches!(r.on_fail, OnFail::Warn | OnFail::Fail) {
                            err(
                                &mut errors,
                                &format!("{p}.on_fail"),
                                format!("`{}` is not possible for row_count, a table-level check; use warn or fail", r.on_fail),
                            );
                        }
                        if rc.min.is_none() && rc.max.is_none() {
                            err(
                                &mut errors,
                                &format!("{p}.check.row_count"),
                                "give `min`, `max` or both".into(),
                            );
                        }
                        if let (Some(a), Some(b)) = (rc.min, rc.max) {
                            if a > b {
                                err(
                                    &mut errors,
                                    &format!("{p}.check.row_count"),
                                    format!("min ({a}) is greater than max ({b})"),
                                );
                            }
                        }
                    }
                    Check::Builtin(BuiltinCheck::Between(b)) => {
                        if b.min.is_none() && b.max.is_none() {
                            err(
                                &mut errors,
                                &format!("{p}.check.between"),
                                "give `min`, `max` or both".into(),
                            );
                        }
                    }
                    Check::Builtin(BuiltinCheck::Regex(rx)) => {
                        if let Err(e) = regex::Regex::new(&rx.pattern) {
                            err(
                                &mut errors,
                                &format!("{p}.check.regex.pattern"),
                                format!("not a valid regular expression: {e}"),
                            );
                        }
                    }
                    Check::Builtin(BuiltinCheck::AcceptedValues(av)) if av.values.is_empty() => {
                        err(
                            &mut errors,
                            &format!("{p}.check.accepted_values.values"),
                            "list at least one value".into(),
                        );
                    }
                    Check::Sql(sql) if sql.trim().is_empty() => {
                        err(
                            &mut errors,
                            &format!("{p}.check"),
                            "the SQL expression is empty".into(),
                        );
                    }
                    _ => {}
                }
            }
            if let Some(d) = &silver.dedupe {
                if d.keys.is_empty() {
                    err(
                        &mut errors,
                        "silver.dedupe.keys",
                        "list at least one key column".into(),
                    );
                }
            }
        }
        for (i, g) in s.gold.iter().enumerate() {
            if g.sql.trim().is_empty() {
                err(
                    &mut errors,
                    &format!("gold[{i}].sql"),
                    "the query is empty".into(),
                );
            }
        }
        if !s.gold.is_empty() && s.silver.is_none() {
            // Allowed (gold may read other pipelines' tables) — nothing to check.
        }
        errors
    }
}
