//! An S3/KMS/Glue lake on the local API server (moto, deploy/local/services/moto.sh).

use std::path::Path;
use std::process::Command;

use super::project;

pub fn endpoint() -> String {
    std::env::var("MEDALLION_MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// The binary with the AWS configuration of the local server only (never the real AWS).
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// Runs the binary with the AWS configuration of the local server only (never the real AWS).
pub fn medallion(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = command(dir, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

pub async fn setup() -> (tempfile::TempDir, String, String, String) {
    if reqwest::Client::new()
        .get(format!("{}/moto-api/", endpoint()))
        .send()
        .await
        .is_err()
    {
        panic!("the S3/KMS/Glue test server is not reachable at {}: start it with `. deploy/local/services/moto.sh`", endpoint());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let bucket = format!("medallion-cloud-{}", &id[..16]);
    create_bucket(&bucket).await;
    let key = create_key().await;
    let prefix = format!("t{}_", &id[16..28]);
    let dir = project(); // environments.yaml is replaced below
    std::fs::write(
        dir.path().join("environments.yaml"),
        format!(
            "environments:\n  dev: {{ lake: ./lake/dev, retention_days: 30 }}\n  prod:\n    lake: s3://{bucket}/lake\n    catalog: {{ glue: {{ database_prefix: {prefix} }} }}\n    kms_key: {key}\n    retention_days: 2555\n    streaming: true\n"
        ),
    )
    .unwrap();
    (dir, bucket, key, prefix)
}

/// The keys of the bucket's objects under `prefix`.
pub async fn list_keys(bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{}/{bucket}?list-type=2&prefix={prefix}", endpoint());
        if let Some(t) = &token {
            url.push_str(&format!("&continuation-token={t}"));
        }
        let list = reqwest::get(url).await.unwrap().text().await.unwrap();
        keys.extend(
            list.split("<Key>")
                .skip(1)
                .map(|k| k[..k.find("</Key>").unwrap()].to_string()),
        );
        token = list
            .split("<NextContinuationToken>")
            .nth(1)
            .map(|t| t[..t.find("</NextContinuationToken>").unwrap()].to_string());
        if token.is_none() {
            return keys;
        }
    }
}

/// An object's bytes.
pub async fn get_object(bucket: &str, key: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .get(format!("{}/{bucket}/{key}", endpoint()))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "GET {key}: {}", r.status());
    r.bytes().await.unwrap().to_vec()
}

/// Writes an object (as another writer of the bucket would).
pub async fn put_object(bucket: &str, key: &str, body: Vec<u8>) {
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}/{key}", endpoint()))
        .header("Authorization", AUTH)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT {key}: {}", r.status());
}

/// An object's server-side encryption and KMS key id, as S3 answers a HEAD (moto answers
/// them to requests that carry credentials, as any AWS SDK's do).
pub async fn encryption(bucket: &str, key: &str) -> (Option<String>, Option<String>) {
    let head = reqwest::Client::new()
        .head(format!("{}/{bucket}/{key}", endpoint()))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
        .send()
        .await
        .unwrap();
    let h = |n: &str| {
        head.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    (
        h("x-amz-server-side-encryption"),
        h("x-amz-server-side-encryption-aws-kms-key-id"),
    )
}

pub const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

pub async fn create_bucket(bucket: &str) {
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}", endpoint()))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "create bucket {bucket}: {}",
        r.status()
    );
}

/// A new KMS key's id.
pub async fn create_key() -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/", endpoint()))
        .header("X-Amz-Target", "TrentService.CreateKey")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0")
        .body("{}")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["KeyMetadata"]["KeyId"].as_str().unwrap().to_string()
}

/// Deletes every object of the bucket, then the bucket (a lost bucket).
pub async fn delete_bucket(bucket: &str) {
    let http = reqwest::Client::new();
    for k in list_keys(bucket, "").await {
        let r = http
            .delete(format!("{}/{bucket}/{k}", endpoint()))
            .header("Authorization", AUTH)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "DELETE {k}: {}", r.status());
    }
    let r = http
        .delete(format!("{}/{bucket}", endpoint()))
        .header("Authorization", AUTH)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "DELETE bucket {bucket}: {}",
        r.status()
    );
}

/// A Glue client of the local server.
pub async fn glue() -> aws_sdk_glue::Client {
    use aws_config::{BehaviorVersion, Region};
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_glue::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "medallion-tests",
        ))
        .load()
        .await;
    aws_sdk_glue::Client::new(&config)
}
