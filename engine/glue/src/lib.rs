//! The medallion catalog on the AWS Glue Data Catalog.
//!
//! [`GlueCatalog`] implements [`medallion_core::catalog::Catalog`]: each medallion database
//! (`bronze`, `silver`, `gold` …) is the Glue database `<database_prefix><database>` (e.g.
//! `staging_silver`), and each table is registered the way Athena reads Delta Lake tables natively
//! (`table_type=DELTA`, an `EXTERNAL_TABLE` whose location is the Delta table root). See
//! `engine/glue/README.md` for the full mapping.
//!
//! Guarantees:
//! - Isolation: a catalog sees and touches only databases whose names start with its prefix;
//!   names are returned without the prefix.
//! - `upsert_table` is an optimistic read-modify-write: it reads the table, then updates it with
//!   the `VersionId` it read, and retries a bounded number of times when Glue answers
//!   `ConcurrentModificationException`. `created_at` of an existing table is kept.
//! - A Glue table that medallion did not register is never replaced.
//! - Every error is one line naming the environment, the Glue resource and what to do.

mod identity;
pub use identity::caller_arn;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::primitives::{DateTime, DateTimeFormat};
use aws_sdk_glue::types::{
    Column as GlueColumn, DatabaseInput, SerDeInfo, StorageDescriptor, Table, TableInput,
};
use medallion_core::catalog::{Catalog, Column, Database, TableEntry};
use medallion_core::env::GlueCatalogSpec;
use medallion_core::{Error, Result};

/// How many times `upsert_table` reads and writes a table before giving up on concurrent writers.
pub const MAX_UPSERT_ATTEMPTS: u32 = 5;

/// Glue table type of every medallion table.
pub const TABLE_TYPE: &str = "EXTERNAL_TABLE";
/// Hive input format of the Parquet files of a Delta table.
pub const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Hive output format of the Parquet files of a Delta table.
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// Hive SerDe of the Parquet files of a Delta table.
pub const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// Table parameter keys that medallion owns. User parameters (`TableEntry::parameters`) may not
/// use them, nor any key starting with `medallion.`.
pub const RESERVED_PARAMETERS: [&str; 4] = [
    "table_type",
    "classification",
    "spark.sql.sources.provider",
    "EXTERNAL",
];

/// Prefix of every parameter medallion writes for itself.
pub const PARAMETER_PREFIX: &str = "medallion.";

const P_OWNER: &str = "medallion.owner_pipeline";
const P_SCHEMA: &str = "medallion.schema_ref";
const P_VERSION: &str = "medallion.delta_version";
const P_LAYER: &str = "medallion.layer";
const P_ENVIRONMENT: &str = "medallion.environment";
const P_CREATED: &str = "medallion.created_at";
const P_UPDATED: &str = "medallion.updated_at";
const P_CLASSIFICATION: &str = "medallion.classification.";
/// Column parameters.
const C_NULLABLE: &str = "medallion.nullable";
const C_CLASSIFICATION: &str = "medallion.classification";

/// Whether `id` looks like an AWS account id (the Glue catalog id).
fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The Glue Data Catalog of one environment.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    prefix: String,
    environment: String,
    region: String,
    /// The AWS account whose catalog is used (`catalog.glue.catalog_id`); `None`: the caller's.
    catalog_id: Option<String>,
    endpoint: Option<String>,
    tags: BTreeMap<String, String>,
}

impl GlueCatalog {
    /// The catalog of environment `environment`, with the standard AWS configuration: the
    /// credential chain (environment variables, profile, SSO, web identity, container or
    /// instance role), `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_GLUE`, and the region of the spec
    /// or else of the AWS configuration.
    pub async fn from_env(spec: &GlueCatalogSpec, environment: &str) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &spec.region {
            loader = loader.region(Region::new(region.clone()));
        }
        Self::with_config(&loader.load().await, spec, environment)
    }

    /// The catalog of environment `environment` with an explicit AWS configuration (tests use
    /// it to point at a local endpoint). `spec.region`, when set, overrides the config's region.
    pub fn with_config(
        config: &SdkConfig,
        spec: &GlueCatalogSpec,
        environment: &str,
    ) -> Result<Self> {
        let prefix = &spec.database_prefix;
        if let Some(bad) = prefix
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(Error::Config(format!(
                "environment `{environment}`: Glue database_prefix `{prefix}` contains `{bad}`; Glue database \
                 names are lower case letters, digits and `_` (e.g. `{environment}_`)"
            )));
        }
        let catalog_id = spec.catalog_id.clone();
        if let Some(id) = catalog_id.as_deref().filter(|id| !is_account_id(id)) {
            return Err(Error::Config(format!(
                "environment `{environment}`: Glue catalog_id `{id}` is not an AWS account id (12 digits, \
                 quoted in YAML: `catalog_id: \"222222222222\"`)"
            )));
        }
        let region = spec
            .region
            .clone()
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                Error::Config(format!(
                    "environment `{environment}`: no AWS region for the Glue catalog; set \
                     `catalog: {{ glue: {{ region: ... }} }}` in environments.yaml or AWS_REGION"
                ))
            })?;
        let glue_config = aws_sdk_glue::config::Builder::from(config)
            .region(Region::new(region.clone()))
            .build();
        let mut tags = BTreeMap::new();
        tags.insert("environment".to_string(), environment.to_string());
        tags.insert("project".to_string(), "medallion".to_string());
        Ok(Self {
            client: aws_sdk_glue::Client::from_conf(glue_config),
            prefix: prefix.clone(),
            environment: environment.to_string(),
            region,
            catalog_id,
            endpoint: config.endpoint_url().map(str::to_string),
            tags,
        })
    }

    /// Adds (or replaces) a tag put on every Glue database this catalog creates. The defaults
    /// are `environment=<environment>`, `project=medallion` and `layer=<database>`.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The Glue database name of a medallion database: `<prefix><database>`.
    pub fn glue_database_name(&self, database: &str) -> String {
        format!("{}{database}", self.prefix)
    }

    /// The prefix of this catalog's Glue databases.
    pub fn database_prefix(&self) -> &str {
        &self.prefix
    }

    /// The environment this catalog belongs to.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The underlying Glue client.
    pub fn client(&self) -> &aws_sdk_glue::Client {
        &self.client
    }

    /// The endpoint, and the catalog when it is not the caller's, for error messages.
    fn endpoint_shown(&self) -> String {
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://glue.{}.amazonaws.com", self.region));
        match &self.catalog_id {
            Some(id) => format!("{endpoint}, catalog of account {id}"),
            None => endpoint,
        }
    }

    fn database_missing(&self, glue_db: &str, what: &str) -> Error {
        Error::Catalog(format!(
            "environment `{}`: Glue database `{glue_db}` does not exist in region {} ({}); create it before \
             registering {what} (`medallion run` creates the layer databases it writes), or check the \
             region and database_prefix of the environment",
            self.environment,
            self.region,
            self.endpoint_shown()
        ))
    }

    /// One actionable line for an SDK error of `action` (a Glue API name) on `resource`.
    fn sdk_error<E, R>(&self, action: &str, resource: &str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let env = &self.environment;
        let region = &self.region;
        let endpoint = self.endpoint_shown();
        let detail = error_chain(&err);
        let message = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("UnknownError");
                let msg = one_line(e.message().unwrap_or(""));
                match code {
                    "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => format!(
                        "environment `{env}`: access denied to glue:{action} on {resource} (region {region}): {msg}. \
                         Grant glue:{action} on it to the AWS identity in use, or select the right one \
                         (AWS_PROFILE / role)"
                    ),
                    "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "SignatureDoesNotMatch"
                    | "InvalidClientTokenId"
                    | "ExpiredTokenException"
                    | "ExpiredToken" => format!(
                        "environment `{env}`: AWS rejected the credentials for glue:{action} on {resource} \
                         (region {region}, {code}: {msg}); refresh them (e.g. `aws sso login`) or check \
                         AWS_PROFILE / AWS_ACCESS_KEY_ID"
                    ),
                    "EntityNotFoundException" => format!(
                        "environment `{env}`: {resource} not found in Glue (region {region}, {endpoint}): {msg}. \
                         Check the region and database_prefix of the environment"
                    ),
                    "ThrottlingException" => format!(
                        "environment `{env}`: Glue throttled glue:{action} on {resource} (region {region}): {msg}; \
                         retry later or raise the Glue API quota"
                    ),
                    _ => format!(
                        "environment `{env}`: glue:{action} on {resource} failed (region {region}, {endpoint}): \
                         {code}: {msg}"
                    ),
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
                if detail.to_lowercase().contains("credential") =>
            {
                format!(
                    "environment `{env}`: no usable AWS credentials for glue:{action} on {resource}: {detail}. \
                     Configure the AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
                     or an instance/task role)"
                )
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
                "environment `{env}`: cannot reach the Glue endpoint {endpoint} (region {region}) for \
                 glue:{action} on {resource}: {detail}. Check the region (`catalog.glue.region` in \
                 environments.yaml or AWS_REGION), AWS_ENDPOINT_URL and the network"
            ),
            SdkError::ResponseError(_) => format!(
                "environment `{env}`: the endpoint {endpoint} (region {region}) did not answer glue:{action} on \
                 {resource} like a Glue API: {detail}. Check AWS_ENDPOINT_URL and the region"
            ),
            _ => format!(
                "environment `{env}`: glue:{action} on {resource} could not be sent (region {region}, \
                 {endpoint}): {detail}"
            ),
        };
        Error::Catalog(message)
    }

    /// The Glue table, or `None` when it (or its database) does not exist.
    async fn fetch_table(&self, glue_db: &str, name: &str) -> Result<Option<Table>> {
        match self
            .client
            .get_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(glue_db)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table),
            Err(e) if e.code() == Some("EntityNotFoundException") => Ok(None),
            Err(e) => Err(self.sdk_error("GetTable", &format!("table `{glue_db}.{name}`"), e)),
        }
    }

    /// The medallion databases (Glue names with the prefix).
    async fn glue_databases(&self) -> Result<Vec<aws_sdk_glue::types::Database>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get_databases()
                .set_catalog_id(self.catalog_id.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    self.sdk_error("GetDatabases", &format!("databases `{}*`", self.prefix), e)
                })?;
            out.extend(
                page.database_list
                    .into_iter()
                    .filter(|d| d.name.starts_with(&self.prefix)),
            );
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The tables of one Glue database (empty when the database does not exist).
    async fn glue_tables(&self, glue_db: &str) -> Result<Vec<Table>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = match self
                .client
                .get_tables()
                .set_catalog_id(self.catalog_id.clone())
                .database_name(glue_db)
                .set_next_token(token)
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if e.code() == Some("EntityNotFoundException") => return Ok(Vec::new()),
                Err(e) => {
                    return Err(self.sdk_error("GetTables", &format!("database `{glue_db}`"), e))
                }
            };
            out.extend(page.table_list.unwrap_or_default());
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The Glue table input of an entry; `created_at` is the one to keep.
    fn table_input(&self, entry: &TableEntry, created_at: &str) -> Result<TableInput> {
        let mut parameters: HashMap<String, String> = HashMap::new();
        for (k, v) in &entry.parameters {
            if is_reserved(k) {
                return Err(Error::Config(format!(
                    "environment `{}`: table `{}` has the parameter `{k}`, which medallion reserves for the \
                     Glue mapping (keys starting with `{PARAMETER_PREFIX}` and {}); rename it",
                    self.environment,
                    entry.qualified_name(),
                    RESERVED_PARAMETERS.join(", ")
                )));
            }
            parameters.insert(k.clone(), v.clone());
        }
        for (k, v) in [
            ("table_type", "DELTA"),
            ("classification", entry.format.as_str()),
            ("spark.sql.sources.provider", "delta"),
            ("EXTERNAL", "TRUE"),
            (P_OWNER, entry.owner_pipeline.as_str()),
            (P_LAYER, entry.layer.as_str()),
            (P_ENVIRONMENT, self.environment.as_str()),
            (P_CREATED, created_at),
            (P_UPDATED, entry.updated_at.as_str()),
        ] {
            parameters.insert(k.to_string(), v.to_string());
        }
        parameters.insert(P_VERSION.to_string(), entry.delta_version.to_string());
        if let Some(s) = &entry.schema_ref {
            parameters.insert(P_SCHEMA.to_string(), s.clone());
        }
        let mut columns = Vec::with_capacity(entry.columns.len());
        for c in &entry.columns {
            let mut col = GlueColumn::builder()
                .name(&c.name)
                .r#type(&c.ty)
                .set_comment(c.description.clone())
                .parameters(C_NULLABLE, c.nullable.to_string());
            if let Some(class) = &c.classification {
                col = col.parameters(C_CLASSIFICATION, class);
                parameters.insert(format!("{P_CLASSIFICATION}{}", c.name), class.clone());
            }
            columns.push(col.build().map_err(|e| Error::Internal(e.to_string()))?);
        }
        let storage = StorageDescriptor::builder()
            .location(&entry.location)
            .set_columns(Some(columns))
            .input_format(INPUT_FORMAT)
            .output_format(OUTPUT_FORMAT)
            .compressed(false)
            .number_of_buckets(-1)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(SERDE)
                    .parameters("serialization.format", "1")
                    .parameters("path", &entry.location)
                    .build(),
            )
            .build();
        TableInput::builder()
            .name(&entry.name)
            .set_description(entry.description.clone())
            .table_type(TABLE_TYPE)
            .set_parameters(Some(parameters))
            .storage_descriptor(storage)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))
    }

    fn check_entry(&self, entry: &TableEntry) -> Result<()> {
        if entry.format != "delta" {
            return Err(Error::Config(format!(
                "environment `{}`: table `{}` has format `{}`; the Glue catalog registers Delta tables only",
                self.environment,
                entry.qualified_name(),
                entry.format
            )));
        }
        for (kind, name) in [("database", &entry.database), ("table", &entry.name)] {
            if name.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(Error::Config(format!(
                    "environment `{}`: {kind} name `{name}` has upper case letters, which Glue folds to lower \
                     case; use a lower case name",
                    self.environment
                )));
            }
        }
        Ok(())
    }
}

/// True for parameter keys medallion writes itself.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(PARAMETER_PREFIX) || RESERVED_PARAMETERS.contains(&key)
}

/// `outer: cause: root cause` on one line, without repeating a cause that its parent shows.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = one_line(&e.to_string());
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn rfc3339(t: &DateTime) -> Option<String> {
    t.fmt(DateTimeFormat::DateTime).ok()
}

/// The table entry of a Glue table registered by medallion; `None` for other tables.
pub fn entry_of(database: &str, table: &Table) -> Option<TableEntry> {
    let params = table.parameters.clone().unwrap_or_default();
    let owner_pipeline = params.get(P_OWNER)?.clone();
    let delta_version = params.get(P_VERSION)?.parse().ok()?;
    let sd = table.storage_descriptor.as_ref();
    let columns = sd
        .map(|sd| sd.columns())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let cp = c.parameters.as_ref();
            Column {
                name: c.name.clone(),
                ty: c.r#type.clone().unwrap_or_default(),
                nullable: cp
                    .and_then(|p| p.get(C_NULLABLE))
                    .is_none_or(|v| v != "false"),
                description: c.comment.clone(),
                classification: cp
                    .and_then(|p| p.get(C_CLASSIFICATION))
                    .or_else(|| params.get(&format!("{P_CLASSIFICATION}{}", c.name)))
                    .cloned(),
            }
        })
        .collect();
    let created_at = params
        .get(P_CREATED)
        .cloned()
        .or_else(|| table.create_time.as_ref().and_then(rfc3339))
        .unwrap_or_default();
    let updated_at = params
        .get(P_UPDATED)
        .cloned()
        .or_else(|| table.update_time.as_ref().and_then(rfc3339))
        .unwrap_or_else(|| created_at.clone());
    Some(TableEntry {
        database: database.to_string(),
        name: table.name.clone(),
        location: sd.and_then(|sd| sd.location.clone()).unwrap_or_default(),
        format: params
            .get("classification")
            .cloned()
            .unwrap_or_else(|| "delta".to_string()),
        layer: params.get(P_LAYER).cloned().unwrap_or_default(),
        columns,
        delta_version,
        owner_pipeline,
        schema_ref: params.get(P_SCHEMA).cloned(),
        description: table.description.clone(),
        parameters: params
            .iter()
            .filter(|(k, _)| !is_reserved(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        created_at,
        updated_at,
    })
}

/// True when `new` differs from `old` only in its Delta version and timestamps: such an
/// update skips Glue's archived table version (Glue keeps at most 100,000 versions per table,
/// and a streaming pipeline commits often; the Delta log keeps the history of versions).
pub fn only_version_changed(old: &TableEntry, new: &TableEntry) -> bool {
    let strip = |t: &TableEntry| TableEntry {
        delta_version: 0,
        created_at: String::new(),
        updated_at: String::new(),
        ..t.clone()
    };
    strip(old) == strip(new)
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn create_database(&self, database: &Database) -> Result<()> {
        let glue_db = self.glue_database_name(&database.name);
        let input = DatabaseInput::builder()
            .name(&glue_db)
            .set_description(database.description.clone())
            .location_uri(&database.location)
            .parameters(P_ENVIRONMENT, &self.environment)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut tags: HashMap<String, String> = self.tags.clone().into_iter().collect();
        tags.entry("layer".to_string())
            .or_insert_with(|| database.name.clone());
        match self
            .client
            .create_database()
            .set_catalog_id(self.catalog_id.clone())
            .database_input(input)
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(database = %glue_db, environment = %self.environment, "Created Glue database.");
                Ok(())
            }
            Err(e) if e.code() == Some("AlreadyExistsException") => Ok(()),
            Err(e) => Err(self.sdk_error("CreateDatabase", &format!("database `{glue_db}`"), e)),
        }
    }

    async fn list_databases(&self) -> Result<Vec<Database>> {
        let mut out: Vec<Database> = self
            .glue_databases()
            .await?
            .into_iter()
            .map(|d| Database {
                name: d.name[self.prefix.len()..].to_string(),
                description: d.description,
                location: d.location_uri.unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn upsert_table(&self, table: &TableEntry) -> Result<()> {
        self.check_entry(table)?;
        let glue_db = self.glue_database_name(&table.database);
        let shown = format!("table `{glue_db}.{}`", table.name);
        for attempt in 1..=MAX_UPSERT_ATTEMPTS {
            match self.fetch_table(&glue_db, &table.name).await? {
                None => {
                    let input = self.table_input(table, &table.created_at)?;
                    match self
                        .client
                        .create_table()
                        .set_catalog_id(self.catalog_id.clone())
                        .database_name(&glue_db)
                        .table_input(input)
                        .send()
                        .await
                    {
                        Ok(_) => return Ok(()),
                        // Created by a concurrent writer since we looked: update it instead.
                        Err(e) if e.code() == Some("AlreadyExistsException") => continue,
                        Err(e) if e.code() == Some("EntityNotFoundException") => {
                            return Err(
                                self.database_missing(&glue_db, &format!("`{}`", table.name))
                            )
                        }
                        Err(e) => return Err(self.sdk_error("CreateTable", &shown, e)),
                    }
                }
                Some(existing) => {
                    let Some(old) = entry_of(&table.database, &existing) else {
                        return Err(Error::Config(format!(
                            "environment `{}`: Glue {shown} exists but was not registered by medallion (it has \
                             no `{P_OWNER}` / `{P_VERSION}` parameters); refusing to replace it. Rename or \
                             drop one of them",
                            self.environment
                        )));
                    };
                    let input = self.table_input(table, &old.created_at)?;
                    match self
                        .client
                        .update_table()
                        .set_catalog_id(self.catalog_id.clone())
                        .database_name(&glue_db)
                        .table_input(input)
                        .set_version_id(existing.version_id.clone())
                        .skip_archive(only_version_changed(&old, table))
                        .send()
                        .await
                    {
                        Ok(_) => return Ok(()),
                        Err(e)
                            if matches!(
                                e.code(),
                                Some("ConcurrentModificationException")
                                    | Some("EntityNotFoundException")
                            ) =>
                        {
                            tracing::debug!(table = %shown, attempt, "Glue table changed concurrently, retrying.");
                            tokio::time::sleep(Duration::from_millis(50 * 2u64.pow(attempt))).await;
                        }
                        Err(e) => return Err(self.sdk_error("UpdateTable", &shown, e)),
                    }
                }
            }
        }
        Err(Error::Conflict(format!(
            "environment `{}`: gave up registering Glue {shown} after {MAX_UPSERT_ATTEMPTS} attempts: other \
             writers changed it each time (ConcurrentModificationException); re-run when they are done",
            self.environment
        )))
    }

    async fn get_table(&self, database: &str, name: &str) -> Result<Option<TableEntry>> {
        let glue_db = self.glue_database_name(database);
        match self.fetch_table(&glue_db, name).await? {
            None => Ok(None),
            Some(t) => entry_of(database, &t).map(Some).ok_or_else(|| {
                Error::Config(format!(
                    "environment `{}`: Glue table `{glue_db}.{name}` was not registered by medallion (it has no \
                     `{P_OWNER}` / `{P_VERSION}` parameters); rename or drop it",
                    self.environment
                ))
            }),
        }
    }

    async fn list_tables(&self, database: Option<&str>) -> Result<Vec<TableEntry>> {
        let databases: Vec<String> = match database {
            Some(d) => vec![d.to_string()],
            None => self
                .glue_databases()
                .await?
                .into_iter()
                .map(|d| d.name[self.prefix.len()..].to_string())
                .collect(),
        };
        let mut out = Vec::new();
        for db in databases {
            let glue_db = self.glue_database_name(&db);
            for t in self.glue_tables(&glue_db).await? {
                match entry_of(&db, &t) {
                    Some(e) => out.push(e),
                    None => tracing::warn!(
                        table = %format!("{glue_db}.{}", t.name),
                        environment = %self.environment,
                        "Skipping Glue table not registered by medallion."
                    ),
                }
            }
        }
        out.sort_by(|a, b| (&a.database, &a.name).cmp(&(&b.database, &b.name)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::config::http::HttpResponse;
    use aws_sdk_glue::error::ErrorMetadata;
    use aws_sdk_glue::operation::get_table::GetTableError;

    fn catalog() -> GlueCatalog {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        GlueCatalog::with_config(
            &config,
            &GlueCatalogSpec {
                database_prefix: "staging_".into(),
                region: None,
                catalog_id: None,
            },
            "staging",
        )
        .unwrap()
    }

    fn entry() -> TableEntry {
        TableEntry {
            database: "silver".into(),
            name: "orders".into(),
            location: "s3://lake/silver/orders".into(),
            format: "delta".into(),
            layer: "silver".into(),
            columns: vec![Column {
                name: "email".into(),
                ty: "string".into(),
                nullable: false,
                description: Some("Customer e-mail".into()),
                classification: Some("pii".into()),
            }],
            delta_version: 4,
            owner_pipeline: "orders".into(),
            schema_ref: Some("orders@2".into()),
            description: Some("Orders".into()),
            parameters: BTreeMap::from([("owner".to_string(), "shop".to_string())]),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-02T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn access_denied_names_environment_resource_and_permission() {
        let cat = catalog();
        // GetTable declares no AccessDeniedException: Glue's answer arrives as a generic error.
        let service = GetTableError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("User: arn:aws:iam::1:user/x is not authorized\nto perform glue:GetTable")
                .build(),
        );
        let raw = HttpResponse::new(400u16.try_into().unwrap(), "".into());
        let err = cat.sdk_error(
            "GetTable",
            "table `staging_silver.orders`",
            SdkError::service_error(service, raw),
        );
        let text = err.to_string();
        assert!(text.contains("environment `staging`"), "{text}");
        assert!(text.contains("access denied to glue:GetTable"), "{text}");
        assert!(text.contains("table `staging_silver.orders`"), "{text}");
        assert!(text.contains("region eu-west-1"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn the_glue_input_maps_back_to_the_same_entry() {
        let cat = catalog();
        let e = entry();
        let input = cat.table_input(&e, &e.created_at).unwrap();
        let p = input.parameters.clone().unwrap();
        assert_eq!(p["table_type"], "DELTA");
        assert_eq!(p["medallion.classification.email"], "pii");
        assert_eq!(p["owner"], "shop");
        let table = Table::builder()
            .name(input.name.clone())
            .set_description(input.description.clone())
            .set_parameters(input.parameters.clone())
            .set_storage_descriptor(input.storage_descriptor.clone())
            .build()
            .unwrap();
        assert_eq!(entry_of("silver", &table), Some(e));
    }

    #[test]
    fn reserved_parameters_are_refused() {
        let cat = catalog();
        let mut e = entry();
        e.parameters.insert("table_type".into(), "HIVE".into());
        let err = cat.table_input(&e, "t").unwrap_err().to_string();
        assert!(err.contains("parameter `table_type`"), "{err}");
        e.parameters.clear();
        e.parameters
            .insert("medallion.delta_version".into(), "9".into());
        assert!(cat.table_input(&e, "t").is_err());
    }

    #[test]
    fn version_only_updates_skip_the_archive() {
        let old = entry();
        let mut new = old.clone();
        new.delta_version = 5;
        new.updated_at = "later".into();
        assert!(only_version_changed(&old, &new));
        new.columns[0].ty = "varchar(10)".into();
        assert!(!only_version_changed(&old, &new));
    }

    #[test]
    fn bad_prefix_and_missing_region_are_refused() {
        let no_region = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let spec = GlueCatalogSpec {
            database_prefix: "prod_".into(),
            region: None,
            catalog_id: None,
        };
        let err = GlueCatalog::with_config(&no_region, &spec, "prod")
            .unwrap_err()
            .to_string();
        assert!(err.contains("environment `prod`: no AWS region"), "{err}");
        let spec = GlueCatalogSpec {
            database_prefix: "Prod-".into(),
            region: Some("us-east-1".into()),
            catalog_id: None,
        };
        let err = GlueCatalog::with_config(&no_region, &spec, "prod")
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_prefix `Prod-`"), "{err}");
    }
}
