//! The object stores of a cluster process: local paths, and S3 buckets created on first use
//! from the process's AWS settings (`AWS_*` environment variables, the ECS task role's
//! container credentials, `AWS_ENDPOINT_URL` for a local S3 API). SSE-KMS objects are read
//! transparently by S3 for a role allowed to decrypt with the key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use url::Url;

#[derive(Debug, Default)]
pub struct LakeStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// `scheme://host`: one store per bucket.
fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
}

impl LakeStores {
    fn create(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "file" => Ok(Arc::new(LocalFileSystem::new())),
            "s3" | "s3a" => {
                let bucket = url.host_str().ok_or_else(|| {
                    DataFusionError::Configuration(format!("{url}: an S3 URL names no bucket"))
                })?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(Arc::new(store))
            }
            other => Err(DataFusionError::Configuration(format!(
                "{url}: a medallion cluster reads local paths and s3:// only, not `{other}`"
            ))),
        }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().expect("store registry lock");
        stores.insert(key(url), store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let k = key(url);
        if let Some(s) = self.stores.read().expect("store registry lock").get(&k) {
            return Ok(s.clone());
        }
        let store = Self::create(url)?;
        let mut stores = self.stores.write().expect("store registry lock");
        Ok(stores.entry(k).or_insert(store).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_store_per_bucket_and_unknown_schemes_refused() {
        let r = LakeStores::default();
        let a = r
            .get_store(&Url::parse("file:///tmp/a/b.parquet").unwrap())
            .unwrap();
        let b = r
            .get_store(&Url::parse("file:///other/c.parquet").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let e = r
            .get_store(&Url::parse("gs://bucket/x").unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("not `gs`"), "{e}");
    }
}
