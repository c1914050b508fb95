//! Encryption at rest: on an S3 lake, a HEAD of sampled objects of every table (data files
//! and the newest log entry) must answer SSE-KMS with the environment's own `kms_key`, never
//! another environment's. A local lake: not applicable (the disk's encryption is not visible).

use object_store::signer::Signer as _;

use super::{Control, Inputs};
use crate::env::{Environment, LakeRoot};
use crate::table;

const ID: &str = "encryption-at-rest";

/// Data files sampled per table.
pub const SAMPLE_FILES: usize = 3;

pub async fn check(i: &Inputs<'_>) -> Result<Control, String> {
    if let LakeRoot::Local(p) = &i.env.lake {
        return Ok(Control::not_applicable(ID, format!(
            "the lake of `{}` is a local folder ({}): encryption at rest is the disk's, which medallion cannot see; \
             S3 lakes are checked object by object",
            i.env.name,
            p.display()
        )));
    }
    let Some(key) = i.env.kms_key.clone() else {
        return Ok(Control::judged(ID, vec![format!("environment `{}` has no kms_key: its objects are not encrypted with a key of its own", i.env.name)], Vec::new()));
    };
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for name in i.lake_tables {
        let shown = name.to_string();
        let loc = i.env.location(name).map_err(|e| e.to_string())?;
        let Some(t) = table::open_if_exists(&shown, &loc)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let snapshot = t.snapshot().map_err(|e| e.to_string())?;
        let mut objects: Vec<String> = snapshot
            .log_data()
            .iter()
            .take(SAMPLE_FILES)
            .map(|f| f.path().to_string())
            .collect();
        objects.push(format!("_delta_log/{:020}.json", table::version(&t)));
        let mut bad = Vec::new();
        for o in &objects {
            if let Some(problem) = head(i.env, &loc, o, &key).await? {
                bad.push(format!("{o}: {problem}"));
            }
        }
        match bad.is_empty() {
            true => pass.push(format!(
                "{shown}: {} object(s) sampled, SSE-KMS with {key}",
                objects.len()
            )),
            false => fail.push(format!("{shown}: {}", bad.join("; "))),
        }
    }
    if fail.is_empty() && pass.is_empty() {
        fail.push("the lake holds no table: nothing to check".into());
    }
    Ok(Control::judged(ID, fail, pass))
}

/// What is wrong with one object's encryption, as S3 answers a signed HEAD; None when it is
/// SSE-KMS with `key`. A HEAD that is refused is an error (the control fails with it).
async fn head(
    env: &Environment,
    loc: &table::Location,
    rel: &str,
    key: &str,
) -> Result<Option<String>, String> {
    let store = loc.s3_builder().build().map_err(|e| e.to_string())?;
    let path = object_store::path::Path::from_url_path(format!("{}{rel}", loc.url.path()))
        .map_err(|e| e.to_string())?;
    let url = store
        .signed_url(
            http::Method::HEAD,
            &path,
            std::time::Duration::from_secs(300),
        )
        .await
        .map_err(|e| format!("signing a HEAD of {path}: {e}"))?;
    let r = reqwest::Client::new()
        .head(url)
        .send()
        .await
        .map_err(|e| format!("HEAD {path}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("HEAD {path}: {}", r.status()));
    }
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (sse, kid) = (
        h("x-amz-server-side-encryption"),
        h("x-amz-server-side-encryption-aws-kms-key-id"),
    );
    Ok(judge(env, sse.as_deref(), kid.as_deref(), key))
}

/// `x-amz-server-side-encryption` and its key id against the environment's key (an ARN or a
/// key id: either may end the other).
pub fn judge(env: &Environment, sse: Option<&str>, kid: Option<&str>, key: &str) -> Option<String> {
    let same =
        |a: &str, b: &str| a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"));
    match (sse, kid) {
        (Some("aws:kms"), Some(k)) if same(k, key) => None,
        (Some("aws:kms"), Some(k)) => match env.other_kms_keys.iter().find(|(_, o)| same(k, o)) {
            Some((other, _)) => Some(format!(
                "encrypted with the key of environment `{other}` ({k})"
            )),
            None => Some(format!(
                "encrypted with {k}, not the environment's key {key}"
            )),
        },
        (Some(s), _) => Some(format!("server-side encryption {s}, not SSE-KMS")),
        (None, _) => Some("no server-side encryption".into()),
    }
}
