//! How the stream consumer authenticates to Kafka (`environments.<name>.kafka.auth`).
//!
//! - absent: plaintext, no authentication (local brokers, tests).
//! - `msk_iam`: Amazon MSK with IAM access control: TLS + SASL/OAUTHBEARER. The token is a
//!   `kafka-cluster:Connect` request presigned with SigV4 (service `kafka-cluster`, 15 minutes)
//!   by the process's AWS credentials (the ECS task role), base64url-encoded, as MSK's own
//!   signer libraries build it. librdkafka asks for a new token before the old one expires;
//!   credentials are refreshed in the background so that the (synchronous) token callback
//!   never blocks on the network. Which topics and groups the consumer may use is decided by
//!   the role's `kafka-cluster:*` permissions (deploy/terraform: exactly the job's topics and
//!   its consumer group).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use medallion_core::kafka_spec::KafkaAuth;
use rdkafka::client::OAuthToken;
use rdkafka::config::ClientConfig;
use tracing::warn;

use crate::{Error, Result};

/// Lifetime of an MSK IAM token (what MSK's signers use).
pub const MSK_TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Identifies the signer in the token (MSK logs it).
const USER_AGENT: &str = "medallion-msk-iam-signer/1";

/// Applies the environment's auth to the consumer configuration.
pub fn apply(config: &mut ClientConfig, auth: Option<&KafkaAuth>) {
    match auth {
        None => {}
        Some(KafkaAuth::MskIam) => {
            config
                .set("security.protocol", "SASL_SSL")
                .set("sasl.mechanism", "OAUTHBEARER");
        }
    }
}

/// Signs MSK IAM tokens with credentials kept fresh in the background.
#[derive(Debug)]
pub struct MskIamSigner {
    region: String,
    credentials: Arc<RwLock<Credentials>>,
    refresher: tokio::task::JoinHandle<()>,
}

impl Drop for MskIamSigner {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl MskIamSigner {
    /// Loads the standard AWS configuration (region, credentials chain incl. ECS task roles),
    /// fetches credentials once (an error names what is missing) and keeps them fresh.
    pub async fn from_env(environment: &str) -> Result<Self> {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::Config(format!(
                "environment `{environment}`: kafka.auth is msk_iam but no AWS region is configured; set AWS_REGION"
            ))
        })?;
        let provider = conf.credentials_provider().ok_or_else(|| {
            Error::Config(format!(
                "environment `{environment}`: kafka.auth is msk_iam but no AWS credentials provider is configured"
            ))
        })?;
        let first = provider.provide_credentials().await.map_err(|e| {
            Error::Config(format!(
                "environment `{environment}`: kafka.auth is msk_iam but AWS credentials could not be loaded: {e}"
            ))
        })?;
        let credentials = Arc::new(RwLock::new(first));
        let shared = credentials.clone();
        let refresher = tokio::spawn(async move {
            loop {
                let wait = shared
                    .read()
                    .ok()
                    .and_then(|c| c.expiry())
                    .and_then(|e| e.duration_since(SystemTime::now()).ok())
                    .map(|left| left.saturating_sub(Duration::from_secs(300)))
                    .unwrap_or(Duration::from_secs(300))
                    .clamp(Duration::from_secs(30), Duration::from_secs(900));
                tokio::time::sleep(wait).await;
                match provider.provide_credentials().await {
                    Ok(c) => {
                        if let Ok(mut slot) = shared.write() {
                            *slot = c;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "Refreshing AWS credentials for MSK IAM failed; retrying.")
                    }
                }
            }
        });
        Ok(MskIamSigner {
            region,
            credentials,
            refresher,
        })
    }

    /// A token for librdkafka's OAUTHBEARER refresh callback.
    pub fn oauth_token(&self) -> std::result::Result<OAuthToken, String> {
        let creds = self
            .credentials
            .read()
            .map_err(|_| "credentials lock poisoned".to_string())?
            .clone();
        let (token, lifetime_ms) = msk_iam_token(&creds, &self.region, SystemTime::now())?;
        Ok(OAuthToken {
            token,
            principal_name: "medallion".to_string(),
            lifetime_ms,
        })
    }
}

/// The MSK IAM token for `creds` in `region` at `now`: base64url (no padding) of
/// `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect&<SigV4 query>&User-Agent=...`,
/// and its expiry in milliseconds since the epoch.
pub fn msk_iam_token(
    creds: &Credentials,
    region: &str,
    now: SystemTime,
) -> std::result::Result<(String, i64), String> {
    let host = format!("kafka.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=kafka-cluster%3AConnect");
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(MSK_TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut signed = url;
    for (k, v) in instructions.params() {
        signed.push('&');
        signed.push_str(k);
        signed.push('=');
        signed.push_str(&encode(v));
    }
    signed.push_str("&User-Agent=");
    signed.push_str(&encode(USER_AGENT));
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.as_bytes());
    let expires = now
        .checked_add(MSK_TOKEN_LIFETIME)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or("time out of range")?;
    Ok((token, expires))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str) -> String {
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn msk_iam_token_is_a_presigned_connect_request() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (token, expires) = msk_iam_token(&creds, "eu-west-1", now).unwrap();
        assert!(
            !token.contains('=') && !token.contains('+') && !token.contains('/'),
            "{token}"
        );
        let url = decode(&token);
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
            "User-Agent=medallion-msk-iam-signer%2F1",
        ] {
            assert!(url.contains(part), "{part} missing in {url}");
        }
        assert_eq!(expires, (1_700_000_000 + 900) * 1000);
        // Deterministic for the same inputs, different for another region.
        assert_eq!(msk_iam_token(&creds, "eu-west-1", now).unwrap().0, token);
        assert_ne!(msk_iam_token(&creds, "us-east-1", now).unwrap().0, token);
    }

    #[test]
    fn msk_iam_sets_sasl_ssl_oauthbearer() {
        let mut c = ClientConfig::new();
        apply(&mut c, Some(&KafkaAuth::MskIam));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.mechanism"), Some("OAUTHBEARER"));
        let mut plain = ClientConfig::new();
        apply(&mut plain, None);
        assert_eq!(plain.get("security.protocol"), None);
    }
}
