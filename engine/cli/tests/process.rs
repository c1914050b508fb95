//! The process's edges as a user meets them: exit codes and messages by error class, a
//! standard output closed early (`| head -1`), and what the default log level shows.

use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod common;
use common::project;

/// The binary with no log or backtrace settings inherited from the test's environment.
fn medallion(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medallion"));
    c.args(args)
        .current_dir(dir)
        .env_remove("MEDALLION_LOG")
        .env_remove("MEDALLION_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    c
}

fn output(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).to_string(),
        String::from_utf8_lossy(&stderr).to_string(),
    )
}

fn assert_no_crash(stderr: &str) {
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("backtrace")
            && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// A pipe whose buffer is one page, so a writer of more than that blocks until the reader
/// reads or closes it: the close lands while the command is still writing.
fn small_pipe() -> (OwnedFd, std::fs::File) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) };
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (write, std::fs::File::from(read))
}

/// Reads the first line byte by byte (no read-ahead that would drain the pipe).
fn first_line(r: &mut impl std::io::Read) -> String {
    let mut line = Vec::new();
    let mut b = [0u8];
    while r.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

fn wait(mut child: Child) -> (i32, String) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_reader_closing_stdout_early_is_not_a_crash() {
    let p = project();
    let (code, _, err) = output(&mut medallion(p.path(), &["run", "jobs/"]));
    assert_eq!(code, 0, "{err}");
    let (_, full, _) = output(&mut medallion(p.path(), &["tables", "--json"]));
    assert!(
        full.len() > 3 * 4096,
        "enough output to fill the pipe: {}",
        full.len()
    );

    // `medallion tables --json | head -n 1`
    let (write, mut read) = small_pipe();
    let child = medallion(p.path(), &["tables", "--json"])
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(first_line(&mut read), "{");
    drop(read);
    let (code, err) = wait(child);
    assert_eq!(code, 0, "{err}");
    assert_no_crash(&err);
    assert_eq!(err, "", "nothing on stderr");

    // `medallion sql --format csv ... | head -n 1`, through an ordinary pipe.
    let query = "SELECT value FROM generate_series(1, 300000)";
    let mut child = medallion(p.path(), &["sql", "--format", "csv", query])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    assert_eq!(first_line(&mut out), "value");
    drop(out);
    let (code, err) = wait(child);
    assert_eq!(code, 0, "{err}");
    assert_no_crash(&err);
}

#[test]
fn the_users_input_config_and_data_exit_1_with_a_message_naming_it() {
    let p = project();
    // A job path that does not exist.
    let (code, _, err) = output(&mut medallion(p.path(), &["run", "jobs/nope.yaml"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("medallion: input error: jobs/nope.yaml: does not exist"),
        "{err}"
    );
    let (code, _, err) = output(&mut medallion(p.path(), &["validate", "nope/"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope/: does not exist"), "{err}");

    // A source path that does not exist.
    std::fs::remove_dir_all(p.path().join("testdata/iot/readings")).unwrap();
    let (code, _, err) = output(&mut medallion(
        p.path(),
        &["run", "jobs/iot/sensor_readings.yaml"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("medallion: input error: "), "{err}");
    assert!(
        err.contains("testdata/iot/readings does not exist"),
        "{err}"
    );

    // A spec error, when running.
    std::fs::copy(
        p.path()
            .join("testdata/specs/invalid/01_misspelled_on_fail.yaml"),
        p.path().join("jobs/shop/broken.yaml"),
    )
    .unwrap();
    let (code, _, err) = output(&mut medallion(p.path(), &["run", "jobs/shop/broken.yaml"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("medallion: configuration error: 1 problem(s) in the spec"),
        "{err}"
    );
    assert!(
        err.contains("jobs/shop/broken.yaml: silver.rules[1].on_fail"),
        "{err}"
    );

    // A query naming a table that does not exist.
    let (code, _, err) = output(&mut medallion(
        p.path(),
        &["sql", "SELECT * FROM gold.nope"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("medallion: input error: query: "), "{err}");
    assert!(err.contains("gold.nope"), "{err}");

    // A flag clap does not know.
    let (code, _, err) = output(&mut medallion(p.path(), &["tables", "--nope"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--nope"), "{err}");
}

/// orders with its `some_orders` rule tightened so that it fails.
fn failing_orders(dir: &Path) {
    let spec = std::fs::read_to_string(dir.join("jobs/shop/orders.yaml")).unwrap();
    let strict = spec.replace(
        "row_count: { min: 0, max: 1000000 }",
        "row_count: { min: 0, max: 1 }",
    );
    assert_ne!(spec, strict);
    std::fs::write(dir.join("jobs/shop/orders.yaml"), strict).unwrap();
}

#[test]
fn a_failed_rule_is_a_data_error_and_both_alarm_events_are_logged_by_default() {
    let p = project();
    // The alarms read JSON logs at the default level: records_quarantined is an info event.
    let (code, _, err) = output(
        medallion(p.path(), &["run", "jobs/shop/customers.yaml"])
            .env("MEDALLION_LOG_FORMAT", "json"),
    );
    assert_eq!(code, 0, "{err}");
    let events = json_events(&err);
    let quarantined = events
        .iter()
        .find(|e| e["event"] == "records_quarantined")
        .unwrap_or_else(|| panic!("no records_quarantined event in:\n{err}"));
    assert!(quarantined["count"].as_u64().unwrap() > 0, "{quarantined}");
    assert_eq!(quarantined["pipeline"], "customers");

    failing_orders(p.path());
    let (code, _, err) = output(
        medallion(p.path(), &["run", "jobs/shop/orders.yaml"]).env("MEDALLION_LOG_FORMAT", "json"),
    );
    assert_eq!(code, 1, "{err}");
    let failed = json_events(&err)
        .into_iter()
        .find(|e| e["event"] == "job_failed")
        .unwrap_or_else(|| panic!("no job_failed event in:\n{err}"));
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["pipeline"], "orders");
    assert_eq!(failed["error_class"], "data");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("medallion: data error: quality rule 'some_orders'"),
        "{err}"
    );
}

#[test]
fn a_backup_logs_the_event_its_alarm_counts() {
    let p = project();
    let (code, _, err) = output(&mut medallion(p.path(), &["run", "jobs/iot/"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = output(
        medallion(p.path(), &["backup", "--env", "dev", "--to", "backups/dev"])
            .env("MEDALLION_LOG_FORMAT", "json"),
    );
    assert_eq!(code, 0, "{err}");
    let taken = json_events(&err)
        .into_iter()
        .find(|e| e["event"] == "backup_taken")
        .unwrap_or_else(|| panic!("no backup_taken event in:\n{err}"));
    assert_eq!(taken["level"], "INFO");
    assert_eq!(taken["environment"], "dev");
    assert_eq!(taken["to"], "backups/dev");
    assert!(taken["tables"].as_u64().unwrap() >= 3, "{taken}");
    assert!(taken["copied_files"].as_u64().unwrap() > 0, "{taken}");
}

fn json_events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

#[test]
fn the_default_log_level_shows_no_library_warnings() {
    let p = project();
    let mut stderr = String::new();
    for new_input in [false, true] {
        if new_input {
            // New versions of known orders and customers, so that Silver merges into
            // existing rows.
            for (from, to) in [
                (
                    "testdata/shop/orders/orders-2026-11-02.ndjson",
                    "testdata/shop/orders/orders-2026-11-03.ndjson",
                ),
                (
                    "testdata/shop/customers/customers-2026-11-01.csv",
                    "testdata/shop/customers/customers-2026-11-02.csv",
                ),
            ] {
                std::fs::copy(p.path().join(from), p.path().join(to)).unwrap();
            }
        }
        let (code, out, err) = output(&mut medallion(p.path(), &["run", "jobs/"]));
        assert_eq!(code, 0, "{out}{err}");
        stderr.push_str(&err);
    }
    // Only medallion's own events: `<time>  <LEVEL> <target>: <message>`.
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (level, target) = (words.nth(1).unwrap_or(""), words.next().unwrap_or(""));
        assert!(
            ["INFO", "WARN", "ERROR"].contains(&level) && target.starts_with("medallion"),
            "not a medallion log line: {line}\n{stderr}"
        );
    }
}

/// Rejects spread thinly over many batches are logged as one `records_quarantined` line per
/// rule (counted per flush of the quarantine writer), not one per batch, and the lines add up
/// to what the run quarantined.
#[test]
fn thinly_spread_rejects_are_logged_once_per_rule_with_the_full_count() {
    let p = project();
    let mut csv = String::from("customer_id,name,email,phone,country,signup_date,updated_at\n");
    for i in 0..30_000 {
        let email = if i % 1000 == 7 {
            "not-an-email".to_string()
        } else {
            format!("u{i}@example.com")
        };
        csv.push_str(&format!(
            "X{i:05},Name {i},{email},+1 555 0100,US,2026-01-10,2026-01-10T09:00:00Z\n"
        ));
    }
    std::fs::write(
        p.path().join("testdata/shop/customers/customers-big.csv"),
        csv,
    )
    .unwrap();
    let (code, out, err) = output(
        medallion(
            p.path(),
            &["run", "jobs/shop/customers.yaml", "--report", "json"],
        )
        .env("MEDALLION_LOG_FORMAT", "json"),
    );
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &report[0];
    let quarantined = r["bronze"]["rows_quarantined"].as_u64().unwrap()
        + r["silver"]["rows_quarantined"].as_u64().unwrap()
        + r["silver"]["rows_schema_rejected"].as_u64().unwrap();
    let lines: Vec<(String, u64)> = json_events(&err)
        .iter()
        .filter(|e| e["event"] == "records_quarantined")
        .map(|e| (e["detail"].to_string(), e["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        lines.iter().map(|l| l.1).sum::<u64>(),
        quarantined,
        "{lines:?}\n{r}"
    );
    let email: Vec<_> = lines
        .iter()
        .filter(|l| l.0.contains("email_valid"))
        .collect();
    assert_eq!(email.len(), 1, "one line for email_valid: {lines:?}");
    assert!(email[0].1 >= 30, "{lines:?}");
}

/// Customers CSV: `versions` versions of `keys` customers, version after version, all with
/// the same `updated_at` (the dedupe without `latest_by` keeps the last one received: US), a
/// bad email on every version of the keys with i % 997 == 3, one row that does not fit.
fn versions_csv(keys: usize) -> String {
    let mut csv = String::from("customer_id,name,email,phone,country,signup_date,updated_at\n");
    for country in ["DE", "FR", "US"] {
        for i in 0..keys {
            let email = match i % 997 {
                3 => "not-an-email".to_string(),
                _ => format!("u{i}@example.com"),
            };
            csv.push_str(&format!(
                "X{i:06},Name {i},{email},+1 555 0100,{country},2026-01-10,2026-01-10T09:00:00Z\n"
            ));
        }
    }
    csv.push_str("X99999,Late,late@example.com,+1,US,not-a-date,2026-01-12T09:00:00Z\n");
    csv
}

/// Silver's typed pass on several cores keeps exactly what one core keeps: the same Silver
/// rows (the last received of three versions of each key, spread over ~13 batches, more than
/// the workers hold in flight), the same quarantine records and the same report counts.
#[test]
fn typing_on_several_cores_keeps_what_one_core_keeps() {
    let csv = versions_csv(34_000);
    let run = |threads: &str| {
        let p = project();
        std::fs::write(p.path().join("testdata/shop/customers/big.csv"), &csv).unwrap();
        common::edit(
            p.path(),
            "jobs/shop/customers.yaml",
            "dedupe: { keys: [customer_id], latest_by: updated_at }",
            "dedupe: { keys: [customer_id] }",
        );
        let (code, out, err) = output(
            medallion(
                p.path(),
                &["run", "jobs/shop/customers.yaml", "--report", "json"],
            )
            .env("MEDALLION_TYPING_THREADS", threads)
            .env("MEDALLION_LOG", "info,medallion_core=debug"),
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("Silver typing threads") && err.contains(&format!("workers={threads}")),
            "the run typed on {threads} thread(s)"
        );
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let silver = report[0]["silver"].clone();
        let rows = |q: &str| {
            let (code, out, err) =
                output(&mut medallion(p.path(), &["sql", "--format", "json", q]));
            assert_eq!(code, 0, "{q}: {err}");
            out
        };
        let countries = rows("SELECT country, count(*) AS n FROM silver.customers WHERE customer_id LIKE 'X%' GROUP BY country");
        let table = rows("SELECT * FROM silver.customers ORDER BY customer_id");
        let quarantine = rows(
            "SELECT _rule, _source_file, _source_line, _reason, regexp_replace(_record, '\"_ingest_time\".*', '') AS r FROM silver.customers_quarantine ORDER BY _source_file, _source_line, _rule",
        );
        (silver, countries, table, quarantine, p)
    };
    let one = run("1");
    let two = run("2");
    // Every version of the 35 keys with i % 997 == 3 has a bad email (quarantined).
    assert_eq!(
        one.1.trim(),
        r#"[{"country":"US","n":33965}]"#,
        "the last received wins"
    );
    for key in [
        "rows_read",
        "rows_quarantined",
        "rows_schema_rejected",
        "rows_deduplicated",
        "rows_written",
    ] {
        assert_eq!(one.0[key], two.0[key], "{key}: {} vs {}", one.0, two.0);
    }
    assert!(
        one.0["rows_quarantined"].as_u64().unwrap() >= 105,
        "{}",
        one.0
    );
    assert!(one.2 == two.2, "Silver rows differ");
    assert!(one.3 == two.3, "quarantine records differ");
    assert!(
        one.3.contains("X033901") && one.3.contains("not-a-date"),
        "quarantine holds the rejects"
    );
}

/// A `fail` rule failing in a late batch, typed on several cores: the run fails as a data
/// error naming the rule, and nothing is committed.
#[test]
fn a_failing_rule_on_several_cores_stops_the_run_and_commits_nothing() {
    let p = project();
    let mut csv = versions_csv(34_000);
    csv.push_str("Y00001,Bad,bad@example.com,+1,ZZZ,2026-01-10,2026-01-10T09:00:00Z\n");
    std::fs::write(p.path().join("testdata/shop/customers/big.csv"), &csv).unwrap();
    common::edit(
        p.path(),
        "jobs/shop/customers.yaml",
        "      on_fail: warn",
        "      on_fail: fail",
    );
    let (code, _, err) = output(
        medallion(p.path(), &["run", "jobs/shop/customers.yaml"])
            .env("MEDALLION_TYPING_THREADS", "2"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("country_code"), "{err}");
    let (_, out, _) = output(&mut medallion(p.path(), &["tables", "--json"]));
    assert!(
        !out.contains("silver.customers\""),
        "nothing committed: {out}"
    );
}

/// Row rules judge only the rows still in the batch: a rule that would fail to evaluate on
/// a row an earlier rule removed (a division by a zero amount) runs as if that row were not
/// there; the same rule placed first meets the row and stops the run with the error.
#[test]
fn a_rule_is_evaluated_only_on_the_rows_earlier_rules_kept() {
    let zero = r#"{"order_id":"O9000","customer_id":"C001","amount":0.00,"currency":"EUR","status":"placed","ordered_at":"2026-11-03T09:00:00Z","updated_at":"2026-11-03T09:00:00Z","items":[]}"#;
    let nonzero = "    - { name: amount_nonzero, check: \"amount <> 0\", on_fail: drop }\n";
    let inverse = "    - { name: inverse_small, check: \"1000 / amount > 1\", on_fail: warn }\n";
    let run = |rules: &str| {
        let p = project();
        std::fs::write(
            p.path().join("testdata/shop/orders/zero.ndjson"),
            format!("{zero}\n"),
        )
        .unwrap();
        common::edit(
            p.path(),
            "jobs/shop/orders.yaml",
            "  rules:\n",
            &format!("  rules:\n{rules}"),
        );
        let (code, out, err) = output(&mut medallion(
            p.path(),
            &["run", "jobs/shop", "--report", "json"],
        ));
        (code, out, err)
    };
    let (code, out, err) = run(&format!("{nonzero}{inverse}"));
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let orders = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pipeline"] == "orders")
        .unwrap();
    let rules = &orders["silver"]["rules"];
    let rule = |name: &str| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {rules}"))
            .clone()
    };
    assert_eq!(rule("amount_nonzero")["failed"], 1, "{rules}");
    let (nz, inv) = (rule("amount_nonzero"), rule("inverse_small"));
    assert_eq!(
        inv["checked"].as_u64().unwrap() + 1,
        nz["checked"].as_u64().unwrap(),
        "the inverse rule checked every row but the removed one: {rules}"
    );
    let (code, _, err) = run(&format!("{inverse}{nonzero}"));
    assert_ne!(code, 0, "the division meets the zero amount first");
    assert!(err.to_lowercase().contains("divide by zero"), "{err}");
}

/// The customers job over `versions_csv(34_000)` with a Silver SQL whose join spreads the
/// rows over the query's partitions; `sql_tail` ends its SELECT list.
fn partitioned_customers(sql_tail: &str) -> tempfile::TempDir {
    let p = project();
    std::fs::write(
        p.path().join("testdata/shop/customers/big.csv"),
        versions_csv(34_000),
    )
    .unwrap();
    common::edit(
        p.path(),
        "jobs/shop/customers.yaml",
        "signup_date, updated_at\n    FROM input\n",
        &format!("signup_date, updated_at{sql_tail}\n    FROM input JOIN (SELECT DISTINCT customer_id AS k FROM input) d ON input.customer_id = d.k\n"),
    );
    p
}

/// Silver files of a table folder.
fn parquet_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// Silver written by one writer per partition of its query (`MEDALLION_WRITER_ROWS` below
/// the run's rows) holds exactly the rows one writer writes, in one file per partition:
/// creating the table, then merging newer versions of every other key into it.
#[test]
fn silver_written_per_query_partition_holds_what_one_writer_holds() {
    let mut newer = String::from("customer_id,name,email,phone,country,signup_date,updated_at\n");
    for i in (0..34_000).step_by(2) {
        newer.push_str(&format!(
            "X{i:06},Moved {i},m{i}@example.com,+1 555 0199,NL,2026-01-10,2026-02-01T09:00:00Z\n"
        ));
    }
    let run = |writer_rows: &str| {
        let p = partitioned_customers("");
        let mut log = String::new();
        for step in 0..2 {
            if step == 1 {
                std::fs::write(p.path().join("testdata/shop/customers/newer.csv"), &newer).unwrap();
            }
            let (code, _, err) = output(
                medallion(p.path(), &["run", "jobs/shop/customers.yaml"])
                    .env("MEDALLION_WRITER_ROWS", writer_rows)
                    .env("MEDALLION_LOG", "info,medallion_core=debug"),
            );
            assert_eq!(code, 0, "{err}");
            log.push_str(&err);
        }
        let (code, rows, err) = output(&mut medallion(
            p.path(),
            &[
                "sql",
                "--format",
                "json",
                "SELECT * FROM silver.customers ORDER BY customer_id",
            ],
        ));
        assert_eq!(code, 0, "{err}");
        let files = parquet_files(&p.path().join("lake/dev/silver/customers"));
        (rows, files, log)
    };
    let (apart, files_apart, log) = run("1");
    let (one, files_one, _) = run("100000000");
    assert!(apart == one, "the same Silver rows");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&apart).unwrap();
    let country = |id: &str| {
        rows.iter()
            .filter(|r| r["customer_id"] == id)
            .map(|r| r["country"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(country("X033998"), ["NL"], "the newer version merged");
    assert_eq!(country("X033999"), ["US"], "the others kept");
    // The table's files (of both versions: the merge rewrote some) are more when the first
    // version was written apart.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        let writers: Vec<usize> = log
            .split("Silver writers. writers=")
            .skip(1)
            .filter_map(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect();
        assert!(
            files_apart > files_one && writers.iter().any(|&w| w >= 2),
            "{files_apart} vs {files_one} files, writers {writers:?}: {log}"
        );
    }
}

/// A query partition that fails while another one is written: the run fails with the
/// query's error, nothing is committed and no staged file of any partition stays behind.
#[test]
fn a_failing_query_partition_leaves_no_silver_file() {
    let p = partitioned_customers(
        ",\n           1 / (CASE WHEN customer_id = 'X033999' THEN 0 ELSE 1 END) AS boom",
    );
    let (code, _, err) = output(
        medallion(p.path(), &["run", "jobs/shop/customers.yaml"]).env("MEDALLION_WRITER_ROWS", "1"),
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.to_lowercase().contains("divide by zero"), "{err}");
    assert!(err.contains("silver.sql"), "{err}");
    assert_eq!(
        parquet_files(&p.path().join("lake/dev/silver/customers")),
        0,
        "staged files are deleted"
    );
    let (_, out, _) = output(&mut medallion(p.path(), &["tables", "--json"]));
    assert!(
        !out.contains("silver.customers\""),
        "nothing committed: {out}"
    );
}

/// The typed file and the deduper (fed on threads of their own when typing runs on several
/// cores): when either fails after its first batch, the run fails with that error and
/// commits nothing, on one typing thread and on two.
#[test]
fn a_failing_typed_file_or_deduper_thread_fails_the_run() {
    for (point, threads) in [
        ("typed_write", "2"),
        ("dedupe_push", "2"),
        ("typed_write", "1"),
        ("dedupe_push", "1"),
    ] {
        let p = project();
        std::fs::write(
            p.path().join("testdata/shop/customers/big.csv"),
            versions_csv(34_000),
        )
        .unwrap();
        let (code, _, err) = output(
            medallion(p.path(), &["run", "jobs/shop/customers.yaml"])
                .env("MEDALLION_TYPING_THREADS", threads)
                .env("MEDALLION_FAULT", format!("error:{point}")),
        );
        assert_ne!(code, 0, "{point}: {err}");
        assert!(err.contains(&format!("error:{point}")), "{point}: {err}");
        let (_, out, _) = output(&mut medallion(p.path(), &["tables", "--json"]));
        assert!(
            !out.contains("silver.customers\""),
            "{point}: nothing committed: {out}"
        );
    }
}
