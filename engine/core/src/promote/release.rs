//! A release: the content of a set of specs, the schemas they pin and the target
//! environment's entry in environments.yaml, with one hash anyone can recompute from the files.

use serde::{Deserialize, Serialize};

use crate::audit::sha256_hex;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::plan::JobPlan;

/// One pipeline of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedPipeline {
    pub pipeline: String,
    pub spec_file: String,
    pub spec_sha256: String,
    /// The pinned schema, `dataset@N`, and the SHA-256 of its file.
    pub schema: String,
    pub schema_sha256: String,
    /// The texts, kept in the promotion record so that the next plan can show what changed.
    #[serde(default)]
    pub spec_text: String,
    #[serde(default)]
    pub schema_text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// SHA-256 over the pipelines' spec and schema hashes and the target's entry hash.
    pub hash: String,
    /// The environment the release is for, and the SHA-256 of its environments.yaml entry.
    pub target: String,
    pub environment_sha256: String,
    /// The project's git commit, when it is a checkout (not part of the hash: a commit that
    /// changes nothing of the above is the same release).
    #[serde(default)]
    pub git_commit: Option<String>,
    /// By pipeline name.
    pub pipelines: Vec<ReleasedPipeline>,
}

impl Release {
    pub fn short(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }
}

/// The release of `plans` for `target`. The spec and schema files are read again: one that
/// changed since it was planned is an error (what was checked must be what is released).
pub fn release(plans: &[JobPlan], target: &Environment) -> Result<Release> {
    let mut pipelines = Vec::new();
    for p in plans {
        let spec_text = read_same(&p.job.file, p.job.content_sha256.as_deref())?;
        let schema_file = p.schema.path.display().to_string();
        let schema_text = read_same(&schema_file, Some(&p.schema.content_sha256))?;
        pipelines.push(ReleasedPipeline {
            pipeline: p.job.spec.pipeline.clone(),
            spec_file: p.job.file.clone(),
            spec_sha256: sha256_hex(spec_text.as_bytes()),
            schema: p.schema.reference(),
            schema_sha256: p.schema.content_sha256.clone(),
            spec_text,
            schema_text,
        });
    }
    pipelines.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
    Ok(Release {
        hash: hash(&pipelines, target),
        target: target.name.clone(),
        environment_sha256: target.spec_sha256.clone(),
        git_commit: crate::audit::git_commit(&target.project_root),
        pipelines,
    })
}

/// The release hash: SHA-256 of one line per pipeline (name, spec SHA-256, schema, schema
/// SHA-256, sorted by name) and one for the target environment (name, entry SHA-256).
pub fn hash(pipelines: &[ReleasedPipeline], target: &Environment) -> String {
    let mut text = String::from("medallion release 1\n");
    for p in pipelines {
        text.push_str(&format!(
            "pipeline {} {} {} {}\n",
            p.pipeline, p.spec_sha256, p.schema, p.schema_sha256
        ));
    }
    text.push_str(&format!(
        "environment {} {}\n",
        target.name, target.spec_sha256
    ));
    sha256_hex(text.as_bytes())
}

fn read_same(file: &str, sha256: Option<&str>) -> Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    if sha256.is_some_and(|h| h != sha256_hex(text.as_bytes())) {
        return Err(Error::Input {
            path: file.to_string(),
            message: "changed while the release was being made; run the command again".into(),
        });
    }
    Ok(text)
}
