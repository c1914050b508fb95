//! What a restore refuses before it writes anything.

use super::{Plan, Restore};
use crate::audit::sha256_hex;
use crate::backup::manifest::Manifest;
use crate::backup::take::audit_seq;
use crate::backup::Store;
use crate::env::Environment;
use crate::error::{Error, Result};

pub fn environment(m: &Manifest, env: &Environment) -> Result<()> {
    if m.environment == env.name {
        return Ok(());
    }
    Err(Error::Isolation(format!(
        "backup {} is of environment `{}`; restoring it into `{}` would copy another environment's data. \
         Restore it into `{}`",
        m.id, m.environment, env.name, m.environment
    )))
}

/// Tables the environment has are not overwritten (a restore recreates lost tables; `table
/// restore` rolls one back). A table whose every log entry is the backup's is one a restore
/// cut short began: it is finished; one that has every log entry and data file of the backup
/// is complete and left out (its name returned).
pub async fn existing(lake: &Store, plans: Vec<Plan>) -> Result<(Vec<Plan>, Vec<String>)> {
    let (mut present, mut todo, mut complete) = (Vec::new(), Vec::new(), Vec::new());
    for p in plans {
        let dir = format!("{}/{}/_delta_log/", p.name.database, p.name.table);
        let listed = lake.list(&dir).await?;
        let mut ours = 0;
        for o in &listed {
            match p.log.iter().find(|e| e.path == o.rel) {
                Some(e) if sha256_hex(&lake.get(&o.rel).await?) == e.sha256 => ours += 1,
                _ => {
                    present.push(p.name.to_string());
                    break;
                }
            }
        }
        if ours == p.log.len() && ours == listed.len() && has_files(lake, &p).await? {
            complete.push(p.name.to_string());
        } else {
            todo.push(p);
        }
    }
    if present.is_empty() {
        return Ok((todo, complete));
    }
    Err(Error::Conflict(format!(
        "{} exist(s) in the lake: a restore only recreates tables the environment lost. Roll a table \
         back with `medallion table restore TABLE --version N`, or delete it first",
        present.join(", ")
    )))
}

async fn has_files(lake: &Store, p: &Plan) -> Result<bool> {
    for f in &p.files {
        if lake.size(&f.path).await? != Some(f.size) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every object the restore will read is in the backup (a backup location whose objects were
/// expired or deleted fails here, before anything is written).
pub async fn all_held(from: &Store, m: &Manifest, plans: &[Plan]) -> Result<()> {
    let entries = plans
        .iter()
        .flat_map(|p| p.files.iter().chain(&p.log))
        .chain(&m.metadata);
    let mut missing = Vec::new();
    for e in entries {
        if from.size(&e.key).await? != Some(e.size) {
            missing.push(format!("{} ({})", e.key, e.path));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Input {
        path: from.location.to_string(),
        message: format!(
            "backup {} is incomplete: {} object(s) it needs are missing or changed (expired by a lifecycle rule, \
             deleted), e.g. {}. Nothing was restored; restore another backup",
            m.id,
            missing.len(),
            missing.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// A trail the environment started after the loss (a run or query before the restore) has
/// records at the positions of the backup's: both cannot be one chain. A trail that goes on
/// past the backup (a partial loss) is the environment's and is kept.
pub async fn diverged_trail(lake: &Store, m: &Manifest) -> Result<()> {
    let mut diverged = 0;
    for e in m.metadata.iter().filter(|e| audit_seq(&e.path).is_some()) {
        if lake.size(&e.path).await?.is_some() && sha256_hex(&lake.get(&e.path).await?) != e.sha256
        {
            diverged += 1;
        }
    }
    if diverged == 0 {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "the environment's audit trail ({}/_medallion/audit) has {diverged} record(s) at positions the backup's \
         trail holds other records: a new trail was started after the loss (a run or a query before the \
         restore). Nothing was restored. Restore into a lake nothing has used since the loss (restore first), \
         or move that trail aside",
        lake.location
    )))
}

/// Erasures (finished or begun) after the backup started: its tables may hold the erased
/// people's rows. Refused unless the user takes it on (and erases them again right after).
pub fn erasures_since(
    r: &Restore<'_>,
    m: &Manifest,
    trail: &[crate::audit::Record],
) -> Result<Vec<serde_json::Value>> {
    // An erasure begun and never finished counts too (it may have removed part of the rows).
    let finished = |run: &Option<String>| {
        trail
            .iter()
            .any(|x| x.action == "erasure" && x.run_id == *run)
    };
    let since: Vec<serde_json::Value> = trail
        .iter()
        .filter(|x| x.action == "erasure" || (x.action == "erasure_started" && !finished(&x.run_id)))
        .filter(|x| x.at >= m.started_at)
        .map(|x| {
            serde_json::json!({ "at": x.at, "seq": x.seq, "action": x.action, "subject": x.detail["subject"],
                "key_hash": x.detail["key_hash"], "reason": x.detail["reason"] })
        })
        .collect();
    if since.is_empty() || r.allow_erased {
        return Ok(since);
    }
    let list: Vec<String> = since
        .iter()
        .map(|e| {
            format!(
                "{} `{}` (audit record {}, reason {})",
                e["at"], e["subject"], e["seq"], e["reason"]
            )
        })
        .collect();
    Err(Error::Conflict(format!(
        "backup {} was taken before {} erasure(s) recorded in the environment's trail: {}. Its tables may hold \
         those people's rows. Restore a newer backup, or pass --allow-erased and run the same erasures again \
         right after the restore",
        m.id,
        since.len(),
        list.join("; ")
    )))
}
