//! Shared helpers for the micro benchmarks (`benches/benches/micro.rs`): deterministic
//! lineitem-like data as NDJSON, CSV and Arrow, and the rules and schema of the
//! benchmark pipeline (`benches/jobs/tpch/lineitem.yaml`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use medallion_core::schema::DatasetSchema;
use medallion_core::spec::RuleSpec;

/// The benchmark's lineitem schema (`benches/schemas/tpch_lineitem/v1.yaml`).
pub fn lineitem_schema() -> DatasetSchema {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    medallion_core::schema::load_schema(&dir, "tpch_lineitem@1", "micro", "bronze.schema")
        .expect("benches/schemas/tpch_lineitem/v1.yaml")
}

/// The benchmark pipeline's Silver rules.
pub fn lineitem_rules() -> Vec<RuleSpec> {
    let text = r#"
- { name: quantity_positive, check: "l_quantity > 0", on_fail: quarantine }
- { name: discount_in_range, check: { between: { column: l_discount, min: 0, max: 0.1 } }, on_fail: quarantine }
- { name: shipdate_present, check: { not_null: l_shipdate }, on_fail: drop }
- { name: returnflag_known, check: { accepted_values: { column: l_returnflag, values: [A, N, R] } }, on_fail: quarantine }
"#;
    medallion_core::yaml::parse("micro", text).expect("rules")
}

const FLAGS: [&str; 3] = ["A", "N", "R"];
const MODES: [&str; 7] = ["TRUCK", "MAIL", "REG AIR", "AIR", "FOB", "RAIL", "SHIP"];

/// Row `i` of the synthetic lineitem data as raw text fields (the Bronze form), in schema order.
pub fn row(i: u64) -> [String; 16] {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let day = |off: u64| {
        let d = 8035 + (h >> 7) % 2500 + off; // days since 1970: 1992..1998
        let date = chrono_like(d as i64);
        date
    };
    [
        (i / 4 + 1).to_string(),
        ((h >> 3) % 200_000).to_string(),
        ((h >> 11) % 10_000).to_string(),
        (i % 4 + 1).to_string(),
        format!("{}.0", 1 + (h >> 17) % 50),
        format!("{}.{:02}", 900 + (h >> 23) % 100_000, (h >> 5) % 100),
        format!("0.{:02}", (h >> 29) % 11),
        format!("0.{:02}", (h >> 31) % 9),
        FLAGS[((h >> 37) % 3) as usize].to_string(),
        if (h >> 41) % 2 == 0 { "O" } else { "F" }.to_string(),
        day(0),
        day(30),
        day(15),
        "DELIVER IN PERSON".to_string(),
        MODES[((h >> 43) % 7) as usize].to_string(),
        format!("carefully final deposits {}", (h >> 13) % 1000),
    ]
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (proleptic Gregorian).
fn chrono_like(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

const NUMERIC: [bool; 16] = [
    true, true, true, true, true, true, true, true, false, false, false, false, false, false,
    false, false,
];

/// Writes `rows` rows as NDJSON (numbers as JSON numbers, like DuckDB's export).
pub fn write_ndjson(path: &Path, rows: u64) {
    let schema = lineitem_schema();
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..rows {
        let r = row(i);
        let mut line = String::with_capacity(400);
        line.push('{');
        for (c, v) in r.iter().enumerate() {
            if c > 0 {
                line.push(',');
            }
            if NUMERIC[c] {
                line.push_str(&format!("\"{}\":{v}", names[c]));
            } else {
                line.push_str(&format!("\"{}\":\"{v}\"", names[c]));
            }
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes()).unwrap();
    }
}

/// Writes `rows` rows as CSV with a header.
pub fn write_csv(path: &Path, rows: u64) {
    let schema = lineitem_schema();
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    writeln!(w, "{}", names.join(",")).unwrap();
    for i in 0..rows {
        writeln!(w, "{}", row(i).join(",")).unwrap();
    }
}

/// `rows` rows in the raw (Bronze, all text) form, starting at row `from`.
pub fn raw_batch(from: u64, rows: u64) -> RecordBatch {
    let schema: SchemaRef = lineitem_schema().raw_schema();
    let data: Vec<[String; 16]> = (from..from + rows).map(row).collect();
    let columns: Vec<ArrayRef> = (0..16)
        .map(|c| {
            Arc::new(
                data.iter()
                    .map(|r| Some(r[c].as_str()))
                    .collect::<StringArray>(),
            ) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}
