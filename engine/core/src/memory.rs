//! The memory budget of a run: `--memory-limit` (MiB), else the environment's
//! `memory_limit_mib`, else half of this machine's memory.
//!
//! The two large holders of memory do not run at once: Silver's dedupe table lives through
//! the typed pass and is gone when it ends; DataFusion's pool serves the SQL of Silver (set
//! rules, the Silver SQL) and Gold, which runs after it (during the typed pass the pool only
//! serves the scan of Bronze, which reserves little). So each gets a share of the budget:
//! - the dedupe: half ([`dedupe_bytes`]; it spills to disk above it). The typed pass around it
//!   also holds Bronze batches, the typing threads' batches and the temporary file's row group;
//! - DataFusion's pool: three quarters ([`sql_pool_bytes`]; sorts and aggregates spill above
//!   it, a hash join's build side must fit in it);
//! - the Silver writers: the quarter the pool leaves ([`writers_bytes`]), for the row groups
//!   they encode, which the pool does not count (at least one writer, whatever the quarter).
//!
//! What no share counts comes on top: batches between operators, Delta snapshots, Bronze
//! decoding (bounded by its chunk sizes), the allocator's own overhead. Outside the pool: the
//! Silver merge by key (delta-rs's own session) and, on a replayed run, the quarantine's
//! look-up of the rejects it holds already.

/// Used when the machine's memory cannot be read (not Linux).
const FALLBACK_BYTES: u64 = 4 << 30;

/// The run's budget in bytes.
pub fn limit_bytes(cli_mib: Option<u64>, env_mib: Option<u64>) -> u64 {
    match cli_mib.or(env_mib) {
        Some(mib) => mib << 20,
        None => machine_bytes().map_or(FALLBACK_BYTES, |b| b / 2),
    }
}

/// The dedupe's share of a budget of `limit` bytes.
pub fn dedupe_bytes(limit: u64) -> u64 {
    limit / 2
}

/// DataFusion's pool: the share of the SQL that runs after the dedupe.
pub fn sql_pool_bytes(limit: u64) -> u64 {
    limit / 4 * 3
}

/// What the Silver writers may hold together, beside a full pool.
pub fn writers_bytes(limit: u64) -> u64 {
    limit - sql_pool_bytes(limit)
}

/// `MemTotal` of /proc/meminfo.
fn machine_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_then_the_environment_then_the_machine() {
        assert_eq!(limit_bytes(Some(512), Some(4096)), 512 << 20);
        assert_eq!(limit_bytes(None, Some(4096)), 4096 << 20);
        let default = limit_bytes(None, None);
        assert!(default >= 256 << 20, "{default}");
    }

    #[test]
    fn the_shares_of_stages_that_run_together_stay_within_the_budget() {
        for limit in [64u64 << 20, 2048 << 20, (11 << 30) + 12345] {
            // The pool and the writers run together; the dedupe runs before them.
            assert!(sql_pool_bytes(limit) + writers_bytes(limit) <= limit);
            assert!(dedupe_bytes(limit) <= limit);
            assert!(
                sql_pool_bytes(limit) > dedupe_bytes(limit),
                "the SQL gets the larger share"
            );
        }
    }
}
