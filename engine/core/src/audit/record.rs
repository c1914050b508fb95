//! One audit record: who did what, when, to which table; chained to the record before it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record as stored: one JSON object per record, `prev` being the SHA-256 of the exact
/// bytes of the record before it (empty for the first), so that changing, removing or
/// reordering any record breaks the chain after it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Position in the environment's trail: 0, 1, 2, ... without holes.
    pub seq: u64,
    pub prev: String,
    /// UTC, RFC 3339 with milliseconds; never earlier than the record before.
    pub at: String,
    pub environment: String,
    /// `audit_started`, `run_started`, `table_committed`, `catalog_updated`, `schema_changed`,
    /// `run_finished`, `run_failed`, `commit_unrecorded`, `run_interrupted`, `sql_query`, ...
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The table acted on (`silver.orders`), and its Delta version after the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub who: Who,
    pub what: What,
    /// The action's own fields (rows, files, bytes, operation, error, counts per rule...).
    pub detail: serde_json::Value,
}

/// Who acted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Who {
    /// The OS user of the process.
    pub user: String,
    pub host: String,
    /// The AWS caller identity (STS `GetCallerIdentity`), when the lake is on S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_arn: Option<String>,
}

/// What was run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct What {
    /// The command line of the process.
    pub command: String,
    /// The project's git commit, when it is a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_sha256: Option<String>,
    /// The pinned schema (`dataset@N`) and the SHA-256 of its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_sha256: Option<String>,
}

/// What a caller appends; the trail fills in the position, chain, time, environment and
/// the process's identity.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub action: String,
    pub run_id: Option<String>,
    pub table: Option<String>,
    pub version: Option<i64>,
    /// Run-specific parts of `what` (pipeline, spec, schema); command and git commit are the process's.
    pub what: What,
    pub detail: serde_json::Value,
}

impl Entry {
    pub fn new(action: &str, detail: serde_json::Value) -> Self {
        Self {
            action: action.to_string(),
            detail,
            ..Default::default()
        }
    }
}

/// The process that writes records: its identity and command line.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub who: Who,
    pub command: String,
    pub git_commit: Option<String>,
}

impl Actor {
    /// This process: OS user and host, its command line, and the git commit of `project`
    /// (the folder holding environments.yaml) when it is in a git checkout.
    pub fn this_process(project: &std::path::Path) -> Self {
        let command = redacted_command(std::env::args());
        Self {
            who: Who {
                user: os_user(),
                host: host_name(),
                aws_arn: None,
            },
            command,
            git_commit: git_commit(project),
        }
    }

    pub fn with_aws_arn(mut self, arn: Option<String>) -> Self {
        self.who.aws_arn = arn;
        self
    }
}

/// The OS user: `$USER` or `$LOGNAME`, else the numeric uid (`uid:1000`).
/// The process's peak resident memory so far, in bytes (Linux: `VmHWM` of /proc/self/status;
/// None elsewhere). A process that runs several pipelines reports its peak over all of them.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The command line with the values of secret arguments replaced (`--key` of `erase` and
/// `subject export`: a person's identifier must not be written to the trail in clear text).
pub fn redacted_command(args: impl Iterator<Item = String>) -> String {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("<redacted>".to_string());
            hide_next = false;
        } else if a == "--key" {
            out.push(a);
            hide_next = true;
        } else if a.starts_with("--key=") {
            out.push("--key=<redacted>".into());
        } else {
            out.push(a);
        }
    }
    out.join(" ")
}

fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var) {
            if !u.is_empty() {
                return u;
            }
        }
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(|u| format!("uid:{u}")))
        })
        .unwrap_or_else(|| "unknown".into())
}

pub(super) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The commit `HEAD` points at in the git checkout holding `dir` (reads `.git` itself:
/// `HEAD`, the ref file or `packed-refs`); None outside a checkout.
pub fn git_commit(dir: &std::path::Path) -> Option<String> {
    let git = dir
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.exists())?;
    let git = if git.is_file() {
        // A worktree: `.git` is a file `gitdir: <path>`.
        let text = std::fs::read_to_string(&git).ok()?;
        let rel = text.trim().strip_prefix("gitdir:")?.trim().to_string();
        git.parent()?.join(rel)
    } else {
        git
    };
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return Some(head.to_string());
    };
    let common = std::fs::read_to_string(git.join("commondir"))
        .ok()
        .map(|c| git.join(c.trim()))
        .unwrap_or_else(|| git.clone());
    for base in [&git, &common] {
        if let Ok(c) = std::fs::read_to_string(base.join(reference)) {
            return Some(c.trim().to_string());
        }
    }
    std::fs::read_to_string(common.join("packed-refs"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_suffix(reference)
                .map(|h| h.trim().to_string())
                .filter(|h| h.len() >= 40)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_key_is_not_in_the_recorded_command() {
        let args = [
            "medallion",
            "erase",
            "--key",
            "C123",
            "--subject",
            "customer",
            "--key=ada@x.io",
        ];
        let c = redacted_command(args.iter().map(|s| s.to_string()));
        assert_eq!(
            c,
            "medallion erase --key <redacted> --subject customer --key=<redacted>"
        );
    }

    #[test]
    fn the_project_checkout_has_a_commit() {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        if here.ancestors().any(|d| d.join(".git").exists()) {
            let c = git_commit(here).expect("a commit");
            assert_eq!(c.len(), 40, "{c}");
            assert!(c.chars().all(|ch| ch.is_ascii_hexdigit()), "{c}");
        }
        assert!(git_commit(&std::env::temp_dir().join("no-such-checkout")).is_none());
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let r = Record {
            seq: 3,
            prev: sha256_hex(b"x"),
            at: "2026-12-01T00:00:00.000Z".into(),
            environment: "dev".into(),
            action: "table_committed".into(),
            run_id: Some("r".into()),
            table: Some("silver.orders".into()),
            version: Some(4),
            who: Who::default(),
            what: What::default(),
            detail: serde_json::json!({"rows": 2}),
        };
        let s = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<Record>(&s).unwrap(), r);
    }
}
