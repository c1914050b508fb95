//! The infrastructure gate.

use super::*;

/// The target's lake and catalog answer, and its key is its own (on S3, a key is set and no
/// other environment of the file uses it).
pub(super) fn infrastructure(i: &Inputs<'_>) -> Gate {
    let (mut fail, mut pass) = (Vec::new(), Vec::new());
    for (what, r) in i.reachable {
        match r {
            Ok(()) => pass.push(format!("{what}: reachable")),
            Err(e) => fail.push(format!("{what}: {e}")),
        }
    }
    match (&i.to.lake, &i.to.kms_key) {
        (LakeRoot::S3 { .. }, None) => fail.push(format!(
            "{} has an S3 lake and no kms_key: set the environment's own key",
            i.to.name
        )),
        (_, Some(k)) if i.to.other_kms_keys.iter().any(|(_, o)| o == k) => {
            let others: Vec<&str> =
                i.to.other_kms_keys
                    .iter()
                    .filter(|(_, o)| o == k)
                    .map(|(n, _)| n.as_str())
                    .collect();
            fail.push(format!(
                "{} uses the key of {} ({k}): each environment needs its own key",
                i.to.name,
                others.join(", ")
            ))
        }
        (_, Some(k)) => pass.push(format!("key {k} is {}'s own", i.to.name)),
        (LakeRoot::Local(_), None) => {
            pass.push(format!("{}: local lake, no key to check", i.to.name))
        }
    }
    Gate::of("infrastructure", fail, pass)
}
