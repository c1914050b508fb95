//! Who the process acts as on AWS: the caller identity of its credentials (STS
//! `GetCallerIdentity`), recorded as `who.aws_arn` in the audit trail.

use aws_config::BehaviorVersion;

/// The ARN of the caller, or why it is not known (no credentials, STS unreachable).
pub async fn caller_arn() -> Result<String, String> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let out = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string())?;
    out.arn
        .ok_or_else(|| "STS GetCallerIdentity returned no ARN".to_string())
}
