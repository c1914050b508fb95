//! Reading environments.yaml (a local file or an S3 object) and checking it whole: lake roots
//! that do not overlap, retention, the promotion order.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::paths::{normalize, overlaps, parse_lake, resolve_lake_links};
use super::{Environment, EnvironmentSpec, EnvironmentsFile};
use crate::error::{Error, Result, SpecError};

/// Reads an `s3://bucket/key` object as text with the standard AWS configuration
/// (`AWS_REGION`, credentials chain incl. ECS task roles, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`).
fn read_s3_text(url: &str) -> Result<String> {
    use object_store::ObjectStoreExt;
    let rest = url.trim_start_matches("s3://");
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || key.is_empty() {
        return Err(Error::Spec(vec![SpecError::new(
            url,
            "",
            "an environments file on S3 is written `s3://bucket/key` (e.g. the `engine_config_uri` output of the environment's Terraform root)",
        )]));
    }
    let fail = |detail: String| {
        Error::io(
            url,
            std::io::Error::other(format!(
                "cannot read the environments file: {detail}. Check that the object exists (Terraform's                  `engine_config_uri` output), that the credentials may s3:GetObject it and kms:Decrypt its key,                  and AWS_REGION / AWS_ENDPOINT_URL"
            )),
        )
    };
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(e) = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")) {
        builder = builder
            .with_endpoint(e)
            .with_virtual_hosted_style_request(false);
    }
    if let Some(r) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        builder = builder.with_region(r);
    }
    let store = builder.build().map_err(|e| fail(e.to_string()))?;
    let path = object_store::path::Path::from(key);
    // Callers may be inside a Tokio runtime; the read runs on its own thread and runtime.
    let bytes = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let got = store.get(&path).await.map_err(|e| e.to_string())?;
                got.bytes().await.map_err(|e| e.to_string())
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the reading thread panicked".to_string()))
    })
    .map_err(fail)?;
    String::from_utf8(bytes.to_vec()).map_err(|e| fail(format!("not UTF-8: {e}")))
}

/// Loads and checks `environments.yaml`, then selects `name`.
pub fn load_environment(file: &Path, name: &str) -> Result<Environment> {
    let all = load_all(file)?;
    let available: Vec<String> = all.iter().map(|e| e.name.clone()).collect();
    all.into_iter().find(|e| e.name == name).ok_or_else(|| {
        Error::Spec(vec![SpecError::new(
            file.display().to_string(),
            "environments",
            format!("no environment `{name}`; defined: {}", available.join(", ")),
        )])
    })
}

/// The file as plain values, for the hash of each entry.
#[derive(Deserialize)]
struct RawEnvironmentsFile {
    environments: BTreeMap<String, serde_json::Value>,
}

/// `promote_from` names another environment of the file (unless the file holds only this
/// one), and following it never comes back.
fn check_promotion_order(shown: &str, parsed: &EnvironmentsFile) -> Vec<SpecError> {
    let mut errors = Vec::new();
    for (name, spec) in &parsed.environments {
        let Some(from) = &spec.promote_from else {
            continue;
        };
        let field = format!("environments.{name}.promote_from");
        // A file of one environment is what Terraform renders for a deployed engine: it
        // names where its releases come from without defining that environment.
        let single = parsed.environments.len() == 1;
        if from == name || (!single && !parsed.environments.contains_key(from)) {
            errors.push(SpecError::new(
                shown,
                &field,
                format!("`{from}` is not another environment of this file"),
            ));
            continue;
        }
        let mut seen = vec![name.as_str()];
        let mut at = from.as_str();
        while let Some(next) = parsed
            .environments
            .get(at)
            .and_then(|s| s.promote_from.as_deref())
        {
            seen.push(at);
            if seen.contains(&next) {
                errors.push(SpecError::new(
                    shown,
                    &field,
                    format!(
                        "the promotion order is a loop: {} -> {next}",
                        seen.join(" -> ")
                    ),
                ));
                break;
            }
            at = next;
        }
    }
    errors
}

/// The retention overrides of one environment: known layers, at least one day each.
fn check_retention(shown: &str, name: &str, spec: &EnvironmentSpec, errors: &mut Vec<SpecError>) {
    for (layer, days) in &spec.retention.layers {
        let field = format!("environments.{name}.retention.layers.{layer}");
        if !matches!(layer.as_str(), "bronze" | "silver" | "quarantine" | "gold") {
            errors.push(SpecError::new(
                shown,
                &field,
                "not a layer: use bronze, silver, quarantine or gold",
            ));
        }
        if *days == 0 {
            errors.push(SpecError::new(shown, &field, "must be at least 1"));
        }
    }
    for (class, days) in &spec.retention.classifications {
        if *days == 0 {
            let field = format!("environments.{name}.retention.classifications.{class}");
            errors.push(SpecError::new(shown, &field, "must be at least 1"));
        }
    }
    if let Some(Err(e)) = spec
        .backup
        .every
        .as_deref()
        .map(crate::kafka_spec::parse_duration)
    {
        let field = format!("environments.{name}.backup.every");
        errors.push(SpecError::new(
            shown,
            &field,
            format!("{e} (e.g. 6h, 24h, 7d)"),
        ));
    }
}

/// Loads and checks every environment of the file.
pub fn load_all(file: &Path) -> Result<Vec<Environment>> {
    let shown = file.display().to_string();
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let (text, root) = if shown.starts_with("s3://") {
        // Rendered by Terraform into the environment's lake bucket; relative local paths
        // (sources) resolve against the current folder (the image's working directory).
        (read_s3_text(&shown)?, cwd.clone())
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(&shown, e))?;
        (
            text,
            normalize(&cwd, file.parent().unwrap_or(Path::new("."))),
        )
    };
    let parsed: EnvironmentsFile =
        crate::yaml::parse(&shown, &text).map_err(|e| Error::Spec(vec![e]))?;
    let raw: RawEnvironmentsFile =
        crate::yaml::parse(&shown, &text).map_err(|e| Error::Spec(vec![e]))?;
    let mut errors = Vec::new();
    let mut lakes = Vec::new();
    for (name, spec) in &parsed.environments {
        match parse_lake(&root, &spec.lake) {
            Ok(l) => lakes.push((name.clone(), l)),
            Err(m) => errors.push(SpecError::new(
                &shown,
                format!("environments.{name}.lake"),
                m,
            )),
        }
        check_retention(&shown, name, spec, &mut errors);
        if spec.memory_limit_mib.is_some_and(|m| m < 64) {
            errors.push(SpecError::new(
                &shown,
                format!("environments.{name}.memory_limit_mib"),
                "must be at least 64 (MiB)",
            ));
        }
        if let Err(m) = spec.engine.check() {
            errors.push(SpecError::new(
                &shown,
                format!("environments.{name}.engine.ballista.scheduler"),
                m,
            ));
        }
        if spec.retention_days == 0 {
            errors.push(SpecError::new(
                &shown,
                format!("environments.{name}.retention_days"),
                "must be at least 1",
            ));
        }
    }
    for (i, (na, la)) in lakes.iter().enumerate() {
        for (nb, lb) in lakes.iter().skip(i + 1) {
            if overlaps(la, lb) || overlaps(&resolve_lake_links(la), &resolve_lake_links(lb)) {
                errors.push(SpecError::new(
                    &shown,
                    format!("environments.{nb}.lake"),
                    format!("`{lb}` overlaps the lake of environment `{na}` (`{la}`); each environment needs its own lake root"),
                ));
            }
        }
    }
    errors.extend(check_promotion_order(&shown, &parsed));
    if parsed.environments.is_empty() {
        errors.push(SpecError::new(
            &shown,
            "environments",
            "define at least one environment",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Spec(errors));
    }
    let entry_sha = |name: &str| {
        raw.environments
            .get(name)
            .map(|v| crate::schema::sha256_hex(v.to_string().as_bytes()))
    };
    Ok(parsed
        .environments
        .iter()
        .map(|(name, spec)| {
            let lake = lakes
                .iter()
                .find(|(n, _)| n == name)
                .expect("parsed")
                .1
                .clone();
            Environment {
                name: name.clone(),
                lake,
                catalog: spec.catalog.clone(),
                kms_key: spec.kms_key.clone(),
                retention_days: spec.retention_days,
                retention: spec.retention.clone(),
                streaming: spec.streaming,
                memory_limit_mib: spec.memory_limit_mib,
                engine: spec.engine.clone(),
                kafka: spec.kafka.clone(),
                pii: spec.pii.clone(),
                audit: spec.audit.clone(),
                lineage: spec.lineage.clone(),
                privacy: spec.privacy.clone(),
                backup: spec.backup.clone(),
                other_lakes: lakes.iter().filter(|(n, _)| n != name).cloned().collect(),
                project_root: root.clone(),
                promote_from: spec.promote_from.clone(),
                gates: spec.gates.clone(),
                spec_sha256: entry_sha(name).unwrap_or_default(),
                promote_from_sha256: spec.promote_from.as_deref().and_then(entry_sha),
                other_kms_keys: parsed
                    .environments
                    .iter()
                    .filter(|(n, _)| *n != name)
                    .filter_map(|(n, e)| e.kms_key.clone().map(|k| (n.clone(), k)))
                    .collect(),
            }
        })
        .collect())
}
