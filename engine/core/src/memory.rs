//! The memory budget of a run: `--memory-limit` (MiB), else the environment's
//! `memory_limit_mib`, else half of this machine's memory. Half of it bounds the dedupe's
//! table (it spills to disk above it), the other half DataFusion's memory pool for the SQL of
//! Silver and Gold (sorts, aggregates and joins spill to the temp folder above it).

/// Used when the machine's memory cannot be read (not Linux).
const FALLBACK_BYTES: u64 = 4 << 30;

/// The run's budget in bytes.
pub fn limit_bytes(cli_mib: Option<u64>, env_mib: Option<u64>) -> u64 {
    match cli_mib.or(env_mib) {
        Some(mib) => mib << 20,
        None => machine_bytes().map_or(FALLBACK_BYTES, |b| b / 2),
    }
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
}
