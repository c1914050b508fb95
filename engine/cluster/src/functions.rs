//! What every node of a medallion cluster plans and runs with: Ballista's defaults plus
//! medallion's SQL functions, and the lake's object stores.

use std::sync::Arc;

use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::common::Result;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionConfig;

use crate::stores::LakeStores;

fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut all = ballista_scalar_functions();
    all.extend(medallion_core::cluster::functions());
    all
}

/// The runtime of a task or a planning session: the lake's stores, shared by the process;
/// spills under `work_dir` when given (the executor's writable volume).
pub fn runtime(stores: &Arc<LakeStores>, work_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_object_store_registry(stores.clone());
    if let Some(dir) = work_dir {
        b = b.with_temp_file_path(dir);
    }
    b.build_arc()
}

/// The scheduler's session for a job: plans resolve medallion's functions and read the lake.
pub fn session_state(config: SessionConfig, stores: &Arc<LakeStores>) -> Result<SessionState> {
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime(stores, None)?)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

/// The executor's function registry: every function a planning session knows (DataFusion's
/// defaults including the nested ones such as `cardinality`, which Ballista's default
/// executor registry lacks, and medallion's).
pub fn registry() -> Result<BallistaFunctionRegistry> {
    let state = session_state(SessionConfig::new(), &Arc::new(LakeStores::default()))?;
    Ok(BallistaFunctionRegistry::from(&state))
}

#[cfg(test)]
mod tests {
    #[test]
    fn executors_know_medallions_functions_but_never_a_keyed_hash() {
        let r = super::registry().unwrap();
        assert!(r
            .scalar_functions
            .contains_key(medallion_core::pii::HMAC_UDF));
        assert!(r.scalar_functions.contains_key("cardinality"));
        assert!(!r
            .scalar_functions
            .contains_key(medallion_core::pii::KEYED_HASH_UDF));
        assert!(r.scalar_functions.contains_key("sha256"));
    }
}
