//! The dedupe's winners read back: the rows of the run's typed temporary Parquet file
//! selected by the dedupe's mask, as a DataFusion table (or all its rows, without a dedupe).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::Statistics;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parquet::arrow::arrow_reader::RowSelection;

use crate::direct_io::DirectReaderFactory;
use crate::error::{Error, Result};

/// The rows of a local Parquet file selected by a mask, as a DataFusion table: a Parquet
/// scan whose file carries the mask as a row selection (rows that lost are skipped, not
/// decoded; DataFusion still splits the file across cores), and whose statistics give the
/// exact number of kept rows, so that joins in the Silver SQL build their hash table on
/// the smaller side. Without a mask ([`KeptRows::all`]), every row: Silver's typed rows
/// when it does not deduplicate. The file is read past the page cache ([`crate::direct_io`]).
#[derive(Debug)]
pub struct KeptRows {
    path: PathBuf,
    size: u64,
    schema: SchemaRef,
    /// None: every row.
    selection: Option<RowSelection>,
    kept: usize,
    bytes: usize,
}

impl KeptRows {
    /// `arrow_bytes`: the size of all the file's rows as Arrow arrays (the file itself is
    /// smaller: its dictionaries), from which the kept rows' size is estimated.
    pub fn new(
        path: PathBuf,
        schema: SchemaRef,
        keep: &BooleanArray,
        arrow_bytes: u64,
    ) -> Result<Self> {
        let size = file_size(&path)?;
        let kept = keep.true_count();
        let bytes = (arrow_bytes as f64 * kept as f64 / keep.len().max(1) as f64) as usize;
        Ok(Self {
            path,
            size,
            schema,
            selection: Some(RowSelection::from_filters(std::slice::from_ref(keep))),
            kept,
            bytes,
        })
    }

    /// Every row of the file (`rows` of them, `arrow_bytes` in Arrow).
    pub fn all(path: PathBuf, schema: SchemaRef, rows: u64, arrow_bytes: u64) -> Result<Self> {
        let size = file_size(&path)?;
        Ok(Self {
            path,
            size,
            schema,
            selection: None,
            kept: rows as usize,
            bytes: arrow_bytes as usize,
        })
    }
}

#[async_trait::async_trait]
impl TableProvider for KeptRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        // The local file system's own path encoding (a path string would be encoded again
        // where it holds `%` or non-ASCII letters, and not be found).
        let location = object_store::path::Path::from_filesystem_path(&self.path)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let mut file = PartitionedFile::new_from_meta(object_store::ObjectMeta {
            location,
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size: self.size,
            e_tag: None,
            version: None,
        });
        if let Some(selection) = &self.selection {
            file = file.with_extension(ParquetRowSelection::new(selection.clone()));
        }
        let stats = Statistics {
            num_rows: Precision::Exact(self.kept),
            total_byte_size: Precision::Inexact(self.bytes),
            column_statistics: Statistics::unknown_column(&self.schema),
        };
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::local_filesystem(),
            // Past the page cache, as it was written ([`crate::direct_io`]).
            Arc::new(
                ParquetSource::new(self.schema.clone()).with_parquet_file_reader_factory(Arc::new(
                    DirectReaderFactory::new(self.path.clone(), self.size),
                )),
            ),
        )
        .with_file(file)
        .with_statistics(stats)
        .with_projection_indices(projection.cloned())?
        .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// The length of the file a scan reads (its reader reads whole blocks up to it).
fn file_size(path: &std::path::Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok(meta.len())
}
