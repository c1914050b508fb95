//! Encryption in transit: on an S3 lake, medallion reaches storage over HTTPS only (no
//! `http://` endpoint, `AWS_ALLOW_HTTP` not set). A local lake: not applicable (no network).

use super::{Control, Inputs};
use crate::env::LakeRoot;

const ID: &str = "encryption-in-transit";

pub fn check(i: &Inputs<'_>) -> Result<Control, String> {
    if let LakeRoot::Local(_) = &i.env.lake {
        return Ok(Control::not_applicable(
            ID,
            format!(
                "the lake of `{}` is a local folder: no data crosses a network to reach it",
                i.env.name
            ),
        ));
    }
    let o = i.env.storage_options();
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    match o.get("aws_endpoint") {
        Some(e) if !e.starts_with("https://") => {
            fail.push(format!("the S3 endpoint is {e}: not HTTPS"))
        }
        Some(e) => pass.push(format!("the S3 endpoint is {e}")),
        None => pass.push("the S3 endpoint is AWS's own (HTTPS)".into()),
    }
    match o
        .get("aws_allow_http")
        .map(|v| v.eq_ignore_ascii_case("true"))
    {
        Some(true) => fail.push("AWS_ALLOW_HTTP=true: plain HTTP to storage is allowed".into()),
        _ => {
            pass.push("plain HTTP to storage is not allowed (AWS_ALLOW_HTTP unset or false)".into())
        }
    }
    Ok(Control::judged(ID, fail, pass))
}
