//! The schema compatibility gate.

use super::*;

pub(super) fn schema_compatibility(i: &Inputs<'_>) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for p in i.plans {
        let ds = &p.schema;
        let mode = ds.compatibility;
        let name = format!(
            "{} ({}, {})",
            p.job.spec.pipeline,
            ds.reference(),
            mode_name(mode)
        );
        if mode == crate::schema::Compatibility::None {
            pass.push(format!("{name}: not checked (compatibility: none)"));
            continue;
        }
        let mut problems = Vec::new();
        let bronze = p.job.bronze_table().to_string();
        if let Some(current) = i.target_tables.get(&bronze) {
            problems.extend(against(&p.job.file, &bronze, current, ds, mode));
        }
        if let (Some(silver), Some(out)) = (p.job.silver_table(), &p.silver_output) {
            let silver = silver.to_string();
            if let Some(current) = i.target_tables.get(&silver) {
                problems.extend(
                    compat::check_silver(&p.job.file, &silver, current, out, ds)
                        .into_iter()
                        .map(|e| e.message),
                );
            }
        }
        if mode.transitive() {
            for old in i.earlier_schemas.get(&ds.dataset).into_iter().flatten() {
                let as_table = old.raw_schema();
                let label = format!("{} (version {})", ds.dataset, old.version);
                problems.extend(against(&p.job.file, &label, &as_table, ds, mode));
            }
        }
        if problems.is_empty() {
            pass.push(format!(
                "{name}: compatible with the tables in {}",
                i.to.name
            ));
        } else {
            fail.extend(problems.into_iter().map(|m| format!("{name}: {m}")));
        }
    }
    Gate::of("schema compatibility", fail, pass)
}

fn mode_name(m: crate::schema::Compatibility) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The pinned schema's raw columns against a table (or an earlier version) under `mode`.
fn against(
    file: &str,
    table: &str,
    current: &SchemaRef,
    ds: &DatasetSchema,
    mode: crate::schema::Compatibility,
) -> Vec<String> {
    let mut out = Vec::new();
    if mode.backward() {
        out.extend(
            compat::check_bronze(file, table, current, ds)
                .into_iter()
                .map(|e| e.message),
        );
    }
    if mode.forward() {
        let pinned = ds.raw_schema();
        for f in current
            .fields()
            .iter()
            .filter(|f| !f.name().starts_with('_'))
        {
            match pinned.field_with_name(f.name()) {
                Err(_) => out.push(format!(
                    "forward: column `{}` of {table} is dropped or renamed; readers of the old schema need it",
                    f.name()
                )),
                Ok(n) if !compat::widens(n.data_type(), f.data_type()) => out.push(format!(
                    "forward: column `{}` of {table} changes from {} to {}, which readers of the old schema cannot hold",
                    f.name(),
                    crate::catalog::hive_type(f.data_type()),
                    crate::catalog::hive_type(n.data_type())
                )),
                Ok(_) => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
