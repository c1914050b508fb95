//! The plan of a promotion as text (like `terraform plan`), and its hash.

use serde::Serialize;

use super::diff::Diff;
use super::gates::{Gate, Status};
use super::release::Release;
use crate::audit::sha256_hex;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub from: String,
    pub to: String,
    pub release: Release,
    pub diff: Diff,
    pub gates: Vec<Gate>,
    /// SHA-256 of the release hash and the diff: what was reviewed. Gate evidence is not
    /// part of it (a new run upstream does not change what would be applied).
    pub plan_sha256: String,
}

impl Plan {
    pub fn new(from: &str, to: &str, release: Release, diff: Diff, gates: Vec<Gate>) -> Self {
        let reviewed =
            serde_json::json!({ "release": release.hash, "from": from, "to": to, "diff": diff });
        Self {
            from: from.into(),
            to: to.into(),
            plan_sha256: sha256_hex(reviewed.to_string().as_bytes()),
            release,
            diff,
            gates,
        }
    }

    pub fn failed_gates(&self) -> Vec<&Gate> {
        self.gates
            .iter()
            .filter(|g| g.status == Status::Fail)
            .collect()
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let r = &self.release;
        s.push_str(&format!(
            "Release {} of {} pipeline(s) for {} (from {}){}\n",
            r.short(),
            r.pipelines.len(),
            self.to,
            self.from,
            r.git_commit.as_ref().map_or(String::new(), |c| format!(
                ", git {}",
                &c[..c.len().min(12)]
            ))
        ));
        s.push_str("\nPipelines:\n");
        for p in &self.diff.pipelines {
            let mark = match p.status.as_str() {
                "new" => "+",
                "changed" => "~",
                _ => "=",
            };
            s.push_str(&format!("  {mark} {} ({})\n", p.pipeline, p.status));
            for c in &p.changes {
                for line in c.lines() {
                    s.push_str(&format!("      {line}\n"));
                }
            }
        }
        if let Some(e) = &self.diff.environment {
            s.push_str(&format!("\nEnvironment {}: {e}\n", self.to));
        }
        s.push_str("\nTables:\n");
        if self.diff.tables.is_empty() {
            s.push_str("  no change\n");
        }
        for t in &self.diff.tables {
            let mark = match t.action.as_str() {
                "create" => "+",
                "evolve" => "~",
                _ => "-",
            };
            s.push_str(&format!("  {mark} {} ({})\n", t.table, t.action));
            for c in &t.changes {
                s.push_str(&format!("      {c}\n"));
            }
        }
        if !self.diff.gold_recomputed.is_empty() {
            s.push_str(&format!(
                "  Gold recomputed on the next run: {}\n",
                self.diff.gold_recomputed.join(", ")
            ));
        }
        s.push_str("\nGates:\n");
        for g in &self.gates {
            let st = match g.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            s.push_str(&format!("  {st} {}\n", g.name));
            for e in &g.evidence {
                s.push_str(&format!("       {e}\n"));
            }
        }
        let failed = self.failed_gates().len();
        s.push_str(&format!(
            "\nPlan {} ({})\n",
            &self.plan_sha256[..16],
            if failed == 0 {
                "all gates pass".to_string()
            } else {
                format!("{failed} gate(s) failed")
            }
        ));
        s
    }
}
