//! `medallion`: run declarative Bronze → Silver → Gold pipelines on a Delta lake.
//!
//! This file holds the command line and the process's edges (logging, panics, exit codes);
//! each command lives in `commands/`. Exit codes (README, "Errors and exit codes"): 0 success,
//! 1 the user's configuration, input or data said no, 2 a conflict, the environment or a bug.
//! A closed standard output (`medallion tables | head -1`) is not an error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod allocator;
mod commands;
mod failure;
mod logging;
mod out;
mod panic;
mod progress;
mod project;
mod stream;

#[derive(Parser)]
#[command(
    name = "medallion",
    version,
    about = "Declarative Bronze → Silver → Gold pipelines on Delta Lake"
)]
struct Cli {
    /// The environments file (default: environments.yaml in the current folder or above the job path).
    #[arg(long, global = true, env = "MEDALLION_ENVIRONMENTS")]
    environments: Option<PathBuf>,
    /// The folder of versioned schemas (default: schemas/ beside the environments file).
    #[arg(long, global = true, env = "MEDALLION_SCHEMAS")]
    schemas: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check job specs and the schemas they pin, without touching data.
    Validate {
        /// Job files or folders (default: jobs/).
        paths: Vec<PathBuf>,
        /// Also resolve tables of other pipelines from this environment's catalog.
        #[arg(long)]
        env: Option<String>,
    },
    /// Run pipelines: ingest new files into Bronze, refresh Silver and Gold.
    Run {
        /// A job file or a folder of job files (run in dependency order).
        path: PathBuf,
        /// The environment.
        #[arg(long, default_value = "dev")]
        env: String,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        report: Format,
        /// Run specs that are not promoted to this environment anyway, for this reason
        /// (recorded in the audit trail before anything runs).
        #[arg(long, value_name = "REASON")]
        break_glass: Option<String>,
        /// Ingest into Bronze only the new files of shard I of N (0-based; `0/4` … `3/4` in
        /// four processes at once), and nothing else; a run without `--shard` then brings
        /// the quarantine, Silver and Gold up to date.
        #[arg(long, value_name = "I/N")]
        shard: Option<medallion_core::pipeline::Shard>,
        /// Memory budget in MiB (default: the environment's `memory_limit_mib`, else half
        /// of this machine's memory): half for the dedupe, three quarters for the SQL that
        /// runs after it, a quarter for the Silver writers. The dedupe, sorts and aggregates
        /// spill to disk above their share; a join's build side must fit (docs/spec.md).
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(64..))]
        memory_limit: Option<u64>,
    },
    /// Stream a Kafka source into Bronze (exactly once) until SIGTERM/SIGINT; Silver and Gold
    /// follow. Serves Prometheus /metrics and /health.
    Stream {
        /// The job file (its source must be `kafka`).
        path: PathBuf,
        /// The environment (must have `streaming: true`).
        #[arg(long, default_value = "dev")]
        env: String,
        /// Address of the /metrics and /health endpoint.
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_addr: std::net::SocketAddr,
        /// Stream a spec that is not promoted to this environment anyway, for this reason
        /// (recorded in the audit trail before anything runs).
        #[arg(long, value_name = "REASON")]
        break_glass: Option<String>,
    },
    /// List the tables in the environment's catalog.
    Tables {
        #[arg(long, default_value = "dev")]
        env: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Catalog maintenance.
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// The environment's audit trail: list its records, or `verify` it (the hash chain, and
    /// every table's Delta log against the records).
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        action: Option<AuditAction>,
        #[command(flatten)]
        list: AuditList,
    },
    /// What feeds a table or column and what depends on it, from the job specs:
    /// `medallion lineage gold.daily_revenue.revenue --upstream`.
    Lineage {
        /// `db.table` or `db.table.column`.
        target: String,
        /// Job files or folders (default: jobs/).
        #[arg(long = "jobs")]
        paths: Vec<PathBuf>,
        /// Only what feeds the target.
        #[arg(long, conflicts_with = "downstream")]
        upstream: bool,
        /// Only what depends on the target.
        #[arg(long)]
        downstream: bool,
        /// At most this many steps away.
        #[arg(long)]
        depth: Option<usize>,
        #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
        format: LineageFormat,
    },
    /// Promote the specs of PATHS (default jobs/) from one environment to the next: prints the
    /// plan (what changes, and each gate with its evidence); `--apply` records the promotion
    /// when every gate passes. Exit 1 when a gate fails.
    #[command(args_conflicts_with_subcommands = true)]
    Promote {
        #[command(subcommand)]
        data: Option<PromoteData>,
        #[arg(long, required = true)]
        from: Option<String>,
        #[arg(long, required = true)]
        to: Option<String>,
        /// Job files or folders (default: jobs/).
        paths: Vec<PathBuf>,
        /// Record the promotion (when every gate passes).
        #[arg(long)]
        apply: bool,
        /// With --apply: the plan hash that was reviewed (a prefix of 8+ characters); the
        /// promotion is refused if the plan changed since.
        #[arg(long, requires = "apply")]
        plan_hash: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Copy a table's data back down the promotion order, for tests:
    /// `medallion copy silver.orders --from prod --to staging --mask`.
    Copy(DataArgs),
    /// Releases: `medallion release create [PATHS] --env prod` prints the release hash of the
    /// specs, the schemas they pin and the environment's entry.
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// Apply retention (delete what is older than the table's retention), VACUUM files no
    /// version within the window references, checkpoint and clean the Delta logs.
    Maintain {
        #[arg(long, default_value = "dev")]
        env: String,
        /// Job files or folders (default: jobs/): per-table retention and time columns.
        #[arg(long = "jobs")]
        paths: Vec<PathBuf>,
        /// Only this table (`db.table`).
        #[arg(long)]
        table: Option<String>,
        /// Print what would be deleted and vacuumed; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write the environment's documentation site: a static `index.html` with every table,
    /// pipeline, rule outcome, the lineage graph, the audit trail and search (no server, no
    /// network): `medallion docs --env dev --out site/`.
    Docs {
        #[arg(long, default_value = "dev")]
        env: String,
        /// The folder to write (created; a folder that holds something else is refused).
        #[arg(long)]
        out: PathBuf,
        /// Job files or folders (default: jobs/).
        #[arg(long = "jobs")]
        paths: Vec<PathBuf>,
        /// Show the audit trail of this many days (1 to 36500).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=36500))]
        days: i64,
    },
    /// Erase a person (GDPR Art. 17): every row whose subject column holds the key, in every
    /// layer, then delete the files that held them and write a receipt to the audit trail:
    /// `medallion erase --env dev --subject customer --key C123 --reason "ticket 42"`.
    Erase(EraseArgs),
    /// Back up every table (its current version), the audit trail and metadata, and the
    /// catalog to a folder or S3 prefix outside the lakes; incremental on re-run:
    /// `medallion backup --env prod --to s3://backups/prod --kms-key arn:aws:kms:...`.
    Backup(BackupArgs),
    /// Recreate tables the environment lost from a backup, checked against its manifest:
    /// `medallion restore --env prod --from s3://backups/prod`.
    Restore(RestoreArgs),
    /// A Ballista cluster node for environments with `engine: { ballista: ... }`:
    /// `medallion cluster scheduler`, `medallion cluster executor --scheduler-host H`.
    #[cfg(feature = "cluster")]
    Cluster {
        #[command(subcommand)]
        action: commands::ClusterAction,
    },
    /// One table: `medallion table restore silver.orders --version 12 --env dev` rolls it back
    /// to an older version after a bad run.
    Table {
        #[command(subcommand)]
        action: TableAction,
    },
    /// Data subject requests: `medallion subject export --env dev --subject customer --key C123
    /// --out DIR` writes every row about the person as JSON per table (GDPR Art. 15).
    Subject {
        #[command(subcommand)]
        action: SubjectAction,
    },
    /// Sample the tables' text and date columns for personal and payment data (e-mail, phone,
    /// card numbers, IBAN, US SSN, IP addresses, dates of birth, names) and compare with their
    /// classification; exit 1 when an unclassified column holds such data.
    Classify(ClassifyArgs),
    /// Data quality per pipeline and rule over a window, freshness and anomalies:
    /// `medallion quality report --env dev --since 7d --format md|json|html`.
    Quality {
        #[command(subcommand)]
        action: QualityAction,
    },
    /// Controls on the configuration and the data (encryption, retention, PII, audit, lineage,
    /// promotion, quality, erasure), mapped to SOC2/GDPR/HIPAA/PCI DSS; exit 1 when one FAILs:
    /// `medallion compliance report --env prod --format html`.
    Compliance {
        #[command(subcommand)]
        action: ComplianceAction,
    },
    /// Run a SQL query over the environment's tables (`SELECT ... FROM gold.daily_revenue`);
    /// the query is recorded in the audit trail.
    Sql {
        query: String,
        #[arg(long, default_value = "dev")]
        env: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
    },
}

#[derive(Subcommand)]
enum PromoteData {
    /// Promote a table's data (reference or seed data) to the next environment:
    /// `medallion promote data gold.fx_rates --from staging --to prod`.
    Data(DataArgs),
}

#[derive(clap::Args)]
struct DataArgs {
    /// The table, `db.table`.
    table: String,
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// The source version (default: the latest).
    #[arg(long)]
    version: Option<i64>,
    /// Hash the columns holding personal data in clear with the target's PII key (without
    /// it, such a table is refused).
    #[arg(long)]
    mask: bool,
    /// The project's job specs (default: jobs/), which tell the columns holding personal data.
    #[arg(long = "jobs")]
    paths: Vec<PathBuf>,
    /// The target table, `db.table` (default: the source's name); a table no pipeline writes.
    #[arg(long = "as", value_name = "TABLE")]
    target: Option<String>,
}

/// Who: a data subject and the key that identifies the person.
#[derive(clap::Args)]
struct PersonArgs {
    #[arg(long, default_value = "dev")]
    env: String,
    /// The data subject, as schemas declare it (`subject: customer`).
    #[arg(long)]
    subject: String,
    /// The person's identifier: the value of a subject column (`C123`, an e-mail). Never
    /// written to the audit trail in clear (a salted hash).
    #[arg(long)]
    key: String,
    /// The project's job specs (default: jobs/).
    #[arg(long = "jobs")]
    paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct EraseArgs {
    #[command(flatten)]
    person: PersonArgs,
    /// Why (a ticket), recorded in the receipt.
    #[arg(long)]
    reason: Option<String>,
    /// Print the rows and files that would be erased; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not erase: read every file of the subject's tables still on storage (data files
    /// of every version, the Delta log) and exit 1 if the key is found anywhere.
    #[arg(long, conflicts_with = "dry_run")]
    verify: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct BackupArgs {
    #[arg(long, default_value = "dev")]
    env: String,
    /// A folder (relative to the current folder) or `s3://bucket/prefix`, outside every lake.
    #[arg(long)]
    to: String,
    /// SSE-KMS key of the backup's objects (S3); the lake's key is not reused.
    #[arg(long)]
    kms_key: Option<String>,
    /// The AWS region of the backup bucket (default: the AWS configuration's, the lake's).
    #[arg(long)]
    region: Option<String>,
    /// Only these tables (`db.table`, comma-separated); default every table of the lake.
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Args)]
struct RestoreArgs {
    #[arg(long, default_value = "dev")]
    env: String,
    /// The backup location given to `medallion backup --to`.
    #[arg(long)]
    from: String,
    /// The backup id (default: the newest finished backup).
    #[arg(long)]
    backup: Option<String>,
    /// The AWS region of the backup bucket (default: the AWS configuration's, the lake's).
    #[arg(long)]
    region: Option<String>,
    /// Only these tables (`db.table`, comma-separated); default every table of the backup.
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    /// Then roll the one table named by --tables back to this older version, as `table
    /// restore` does (its files must be in a backup; Silver and Gold tables only).
    #[arg(long)]
    to_version: Option<i64>,
    /// Job files or folders that define the table's pipeline (for --to-version).
    #[arg(long = "jobs", default_value = "jobs")]
    jobs: Vec<PathBuf>,
    /// Restore although the environment's trail records erasures after the backup was taken
    /// (run them again right after: the restored tables may hold those people's rows).
    #[arg(long)]
    allow_erased: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Subcommand)]
enum TableAction {
    /// Roll a Silver or Gold table back to an older version (Delta RESTORE); Silver's
    /// bookmark on Bronze moves back too, so the next run processes again what came since.
    Restore {
        /// The table (`db.table`).
        table: String,
        #[arg(long)]
        version: i64,
        #[arg(long, default_value = "dev")]
        env: String,
        /// Job files or folders that define the table's pipeline (default: jobs/).
        #[arg(long = "jobs", default_value = "jobs")]
        jobs: Vec<PathBuf>,
        /// Say what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(clap::Args)]
struct ClassifyArgs {
    /// Only this table (`db.table`); default every table of the lake.
    table: Option<String>,
    #[arg(long, default_value = "dev")]
    env: String,
    /// Rows sampled per table.
    #[arg(long, default_value_t = 10000)]
    sample: usize,
    /// Share of a column's values a detector must match (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    min_ratio: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Subcommand)]
enum SubjectAction {
    /// Write every row about the person, as JSON per table (`<out>/<db>.<table>.json`).
    Export {
        #[command(flatten)]
        person: PersonArgs,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReleaseAction {
    /// Print the release of PATHS (default jobs/) for an environment.
    Create {
        paths: Vec<PathBuf>,
        /// The environment the release is for.
        #[arg(long)]
        env: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum CatalogAction {
    /// Re-register every Delta table of the lake in the catalog (repairs a catalog that
    /// drifted or was lost).
    Sync {
        #[arg(long, default_value = "dev")]
        env: String,
    },
    /// Write the catalog (databases, tables, columns, parameters) as JSON.
    Export {
        #[arg(long, default_value = "dev")]
        env: String,
        /// The file to write (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Register the databases and tables of an export (of the same environment).
    Import {
        /// The export file.
        file: PathBuf,
        #[arg(long, default_value = "dev")]
        env: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Re-compute the hash chain and cross-check it with every table's Delta log; exit 1
    /// and name the first broken link when the trail was tampered with.
    Verify {
        #[arg(long, default_value = "dev")]
        env: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(clap::Args)]
struct AuditList {
    #[arg(long, default_value = "dev")]
    env: String,
    /// Only records at or after this time: RFC 3339, a date (2026-12-01) or an age (24h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only records of this table (`silver.orders`).
    #[arg(long)]
    table: Option<String>,
    /// Only records of this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    format: AuditFormat,
}

#[derive(Subcommand)]
enum QualityAction {
    /// Print the quality report (docs/quality-report.md).
    Report(QualityArgs),
}

#[derive(clap::Args)]
struct QualityArgs {
    #[arg(long, default_value = "dev")]
    env: String,
    /// Runs started at or after: RFC 3339, a date (2026-12-01) or an age (24h, 7d).
    #[arg(long, default_value = "7d")]
    since: String,
    /// Rules and quarantine reasons listed per pipeline.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Job files or folders (default: jobs/): each pipeline's `freshness`.
    #[arg(long = "jobs")]
    paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum ComplianceAction {
    /// Evaluate the controls and print the report (docs/compliance.md).
    Report(ComplianceArgs),
}

#[derive(clap::Args)]
struct ComplianceArgs {
    #[arg(long, default_value = "dev")]
    env: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
    /// Job files or folders (default: jobs/): every spec of the project.
    #[arg(long = "jobs")]
    paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum ReportFormat {
    Md,
    Json,
    Html,
}

impl ReportFormat {
    fn name(self) -> &'static str {
        match self {
            ReportFormat::Md => "md",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LineageFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum AuditFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum SqlFormat {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    panic::install_hook();
    logging::init();
    allocator::configure();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return failure::usage(e),
    };
    panic::catch(|| failure::exit_code(run(cli)))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| medallion_core::Error::io("starting the async runtime", e))?;
    rt.block_on(commands::dispatch(cli))
}
