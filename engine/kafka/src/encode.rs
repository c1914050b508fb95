//! The CPU work of a Bronze flush — decoding the buffered messages and encoding the Parquet
//! files — spread over the machine's cores: partitions are dealt round robin to up to one
//! worker per core, each worker decodes its partitions (scoped threads, borrowing the
//! buffers, which stay in place until the commit lands so a failed attempt can retry) and
//! then writes its batches as its own staged file (a runtime task). The commit stays one
//! Delta commit holding every file and every partition's offset, made by the caller.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use medallion_core::plan::{BRONZE_META, RUN_ID, SOURCE_FILE};
use medallion_core::table::{Location, Staged, StagedWrite};
use tokio::runtime::Handle;

use crate::decode::{BadMsg, Decoder, KAFKA_TIMESTAMP};
use crate::sink::{PartState, Tp};
use crate::{Error, Result};

/// What the decode of one flush gives.
pub struct Decoded {
    /// Bronze batches, one group per worker (each group becomes one staged file).
    pub groups: Vec<Vec<RecordBatch>>,
    /// Per partition with bad messages: the partition, its bad messages, its next offset.
    pub bad_by_part: Vec<(Tp, Vec<BadMsg>, i64)>,
}

/// Workers for a flush: one per core, at most one per partition with messages.
pub fn workers(partitions: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(partitions).max(1)
}

/// Decodes every partition that holds messages, on [`workers`] threads.
pub fn decode_all(
    decoder: &Decoder,
    parts: &BTreeMap<Tp, PartState>,
    ingest_time: i64,
) -> Result<Decoded> {
    let busy: Vec<(&Tp, &PartState)> = parts.iter().filter(|(_, s)| !s.msgs.is_empty()).collect();
    let n = workers(busy.len());
    let mut dealt: Vec<Vec<(&Tp, &PartState)>> = vec![Vec::new(); n];
    for (i, p) in busy.into_iter().enumerate() {
        dealt[i % n].push(p);
    }
    type Part = (Tp, Vec<BadMsg>, i64);
    let results: Vec<Result<(Vec<RecordBatch>, Vec<Part>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = dealt
            .iter()
            .map(|mine| {
                scope.spawn(move || {
                    let mut batches = Vec::new();
                    let mut bad_parts = Vec::new();
                    for (tp, s) in mine {
                        let next = s.msgs.last().expect("busy").offset + 1;
                        let (good, bad) = decoder.decode(&tp.0, tp.1, &s.msgs, ingest_time)?;
                        batches.extend(good);
                        if !bad.is_empty() {
                            bad_parts.push(((*tp).clone(), bad, next));
                        }
                    }
                    Ok((batches, bad_parts))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Decoded {
        groups: Vec::new(),
        bad_by_part: Vec::new(),
    };
    for r in results {
        let (batches, bad) = r?;
        out.groups.push(batches);
        out.bad_by_part.extend(bad);
    }
    out.bad_by_part.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes each group as its own staged file, the groups in parallel on the runtime, and
/// returns them as one set of staged files (one commit). A group without rows writes nothing.
pub async fn write_all(
    rt: &Handle,
    name: &str,
    loc: &Location,
    decoder: &Decoder,
    groups: Vec<Vec<RecordBatch>>,
) -> Result<Staged> {
    let tasks: Vec<_> = groups
        .into_iter()
        .filter(|g| g.iter().any(|b| b.num_rows() > 0))
        .map(|group| {
            let w = bronze_writer(name, loc, decoder);
            rt.spawn(async move {
                let mut w = w?;
                for b in group {
                    w.write(b).await?;
                }
                Ok::<_, Error>(w.finish().await?)
            })
        })
        .collect();
    let mut done_files: Vec<Staged> = Vec::new();
    let mut first_err = None;
    for t in tasks {
        let done = match t.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(medallion_core::Error::io(
                format!("writing a Bronze file of {name}"),
                std::io::Error::other(e.to_string()),
            )
            .into()),
        };
        match done {
            Ok(s) => done_files.push(s),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        // Nothing of this attempt was committed: the other workers' files are deleted (they
        // hold raw records; the retry writes new ones).
        for s in &done_files {
            s.discard().await;
        }
        return Err(e);
    }
    let mut files = done_files.into_iter();
    let Some(mut all) = files.next() else {
        return Ok(bronze_writer(name, loc, decoder)?.finish().await?);
    };
    for s in files {
        all.adds.extend(s.adds);
        all.rows += s.rows;
    }
    Ok(all)
}

/// A Bronze file writer: dictionaries only for the repetitive metadata, statistics only for
/// the metadata columns (as batch Bronze: the data columns are raw text).
fn bronze_writer(name: &str, loc: &Location, decoder: &Decoder) -> Result<StagedWrite> {
    let mut stats: Vec<&str> = BRONZE_META.to_vec();
    stats.push(KAFKA_TIMESTAMP);
    Ok(StagedWrite::new(name, loc, decoder.bronze.clone())?
        .raw_text(&[SOURCE_FILE, RUN_ID], &stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Msg;
    use std::time::Instant;

    fn decoder() -> Decoder {
        crate::decode::test_decoder()
    }

    fn msg(offset: i64, payload: &str) -> Msg {
        Msg {
            offset,
            payload: Some(payload.as_bytes().to_vec()),
            key: None,
            timestamp_ms: Some(1_700_000_000_000),
            headers: Ok(crate::headers::json(std::iter::empty())),
            received: Instant::now(),
        }
    }

    /// Five partitions (one empty), bad messages in two: every good message is in exactly one
    /// staged file, every bad one is returned with its partition and next offset, in
    /// partition order; files have statistics for the metadata columns only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_spread_over_workers_keeps_every_message_once() {
        let d = decoder();
        let mut parts: BTreeMap<Tp, PartState> = BTreeMap::new();
        for p in 0..5 {
            let mut s = PartState::default();
            if p != 3 {
                for o in 0..100 {
                    let bad = (p == 1 && o == 7) || (p == 4 && o % 50 == 0);
                    let body = if bad {
                        "nope".to_string()
                    } else {
                        format!(r#"{{"id":"{p}-{o}"}}"#)
                    };
                    s.msgs.push(msg(o, &body));
                }
            }
            parts.insert(("t".into(), p), s);
        }
        let decoded = decode_all(&d, &parts, 1).unwrap();
        assert_eq!(decoded.groups.len(), workers(4));
        let bad: Vec<(i32, usize, i64)> = decoded
            .bad_by_part
            .iter()
            .map(|(tp, b, next)| (tp.1, b.len(), *next))
            .collect();
        assert_eq!(bad, vec![(1, 1, 100), (4, 2, 100)]);
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::local(&dir.path().join("bronze")).unwrap();
        let rt = Handle::current();
        let staged = write_all(&rt, "bronze.t", &loc, &d, decoded.groups)
            .await
            .unwrap();
        assert_eq!(staged.rows, 400 - 3);
        assert_eq!(staged.adds.len(), workers(4));
        let mut ids = Vec::new();
        for url in staged.file_urls() {
            let f = std::fs::File::open(url.to_file_path().unwrap()).unwrap();
            let r = deltalake::parquet::file::reader::SerializedFileReader::new(f).unwrap();
            use deltalake::parquet::file::reader::FileReader;
            let rg = r.metadata().row_group(0);
            for c in rg.columns() {
                let name = c.column_path().string();
                let meta = BRONZE_META.contains(&name.as_str()) || name == KAFKA_TIMESTAMP;
                assert_eq!(c.statistics().is_some(), meta, "statistics of {name}");
            }
            let b =
                deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(url.to_file_path().unwrap()).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap();
            for batch in b {
                let batch = batch.unwrap();
                let col = batch.column_by_name("id").unwrap();
                let col = arrow::array::AsArray::as_string::<i32>(col);
                ids.extend(col.iter().map(|v| v.unwrap().to_string()));
            }
        }
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!((before, ids.len()), (397, 397));
    }
}
