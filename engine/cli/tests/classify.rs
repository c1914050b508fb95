//! Content-based classification through the binary: `medallion classify` on the shop example
//! (clean), on a pipeline with an unclassified column of e-mails and one of card numbers
//! (flagged, exit 1), the `pii_scan` rule quarantining rows whose free text carries personal
//! data, and the classifications in the catalog (columns and the table's tag).

use std::path::Path;

mod common;
use common::{medallion_with_fault as medallion, project};

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    medallion(dir, None, args)
}

fn findings(out: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(out).unwrap()
}

fn column<'a>(f: &'a [serde_json::Value], table: &str, column: &str) -> &'a serde_json::Value {
    f.iter()
        .find(|x| x["table"] == table && x["column"] == column)
        .unwrap_or_else(|| panic!("no {table}.{column}"))
}

const CONTACTS: &str = "pipeline: contacts
bronze:
  table: bronze.contacts
  schema: contacts@1
  source: { files: { path: landing/contacts/*.csv, format: csv } }
silver:
  table: silver.contacts
  rules:
    - { name: no_pii_in_notes, check: { pii_scan: { columns: [notes] } }, on_fail: quarantine }
";

const SCHEMA: &str = "dataset: contacts
version: 1
fields:
  - { name: id, type: string, nullable: false }
  - { name: notes, type: string }
  - { name: card, type: string }
";

#[test]
fn unclassified_personal_data_is_flagged_and_pii_scan_quarantines_it() {
    let p = project();
    let d = p.path();
    let (code, out, err) = run(d, &["run", "jobs/shop", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The example declares its personal data: nothing unclassified; Silver's is protected.
    let (code, out, err) = run(d, &["classify", "--env", "dev", "--format", "json"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let f = findings(&out);
    let email = column(&f, "bronze.customers", "email");
    assert_eq!(email["status"], "classified");
    assert_eq!(email["detector"], "email");
    assert!(!out.contains("ada@example.com"), "examples are masked");
    assert_eq!(
        column(&f, "silver.customers", "phone")["status"],
        "protected"
    );
    assert_eq!(
        column(&f, "silver.customers_quarantine", "_record")["classification"],
        "pii"
    );
    assert_eq!(column(&f, "silver.orders", "status")["status"], "clean");

    // The catalog carries the classifications: per column, and the table's tag.
    let catalog = std::fs::read_to_string(d.join("lake/dev/_catalog/catalog.json")).unwrap();
    let catalog: serde_json::Value = serde_json::from_str(&catalog).unwrap();
    let text = catalog.to_string();
    assert!(text.contains(r#""classifications":"pii""#), "{text}");

    // A pipeline whose schema classifies nothing, with e-mails in free text and card numbers.
    std::fs::create_dir_all(d.join("schemas/contacts")).unwrap();
    std::fs::write(d.join("schemas/contacts/v1.yaml"), SCHEMA).unwrap();
    std::fs::write(d.join("jobs/contacts.yaml"), CONTACTS).unwrap();
    std::fs::create_dir_all(d.join("landing/contacts")).unwrap();
    std::fs::write(
        d.join("landing/contacts/c.csv"),
        "id,notes,card\n\
         1,call back tomorrow,4111 1111 1111 1111\n\
         2,wrote from ada@example.com,5500 0000 0000 0004\n\
         3,prefers phone,4012 8888 8888 1881\n",
    )
    .unwrap();
    let (code, out, err) = run(d, &["run", "jobs/contacts.yaml", "--env", "dev"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("rule no_pii_in_notes") && out.contains("1 failed"),
        "{out}"
    );
    let (code, out, err) = run(
        d,
        &[
            "classify",
            "bronze.contacts",
            "--env",
            "dev",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        err.contains("unclassified column(s) hold personal or payment data"),
        "{err}"
    );
    let f = findings(&out);
    let card = column(&f, "bronze.contacts", "card");
    assert_eq!(card["status"], "unclassified");
    assert_eq!(card["detector"], "credit_card");
    assert_eq!(card["suggested"], "pci");
    assert!(!out.contains("4111 1111"), "{out}");
    // One e-mail in three notes is below the ratio: the column is not flagged as a whole.
    assert_eq!(column(&f, "bronze.contacts", "notes")["status"], "clean");
    // Silver kept the notes without personal data; the quarantine holds the other.
    let (code, out, _) = run(
        d,
        &[
            "classify",
            "silver.contacts_quarantine",
            "--env",
            "dev",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        column(&findings(&out), "silver.contacts_quarantine", "_record")["detector"],
        "email"
    );

    // With on_fail: fail, the error names the kind found, never the value.
    std::fs::write(
        d.join("jobs/contacts.yaml"),
        CONTACTS.replace("on_fail: quarantine", "on_fail: fail"),
    )
    .unwrap();
    std::fs::write(
        d.join("landing/contacts/d.csv"),
        "id,notes,card\n4,reach me at grace@example.com,\n",
    )
    .unwrap();
    let (code, out, err) = run(d, &["run", "jobs/contacts.yaml", "--env", "dev"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("notes holds email (value withheld)"), "{err}");
    assert!(
        !err.contains("grace@example.com") && !out.contains("grace@example.com"),
        "{err}"
    );
    let trail = run(d, &["audit", "--env", "dev", "--format", "json"]).1;
    assert!(
        !trail.contains("grace@example.com"),
        "the audit trail holds the value"
    );

    // A rule naming an unknown detector is a spec error that lists the detectors.
    std::fs::write(
        d.join("jobs/contacts.yaml"),
        CONTACTS.replace(
            "columns: [notes] }",
            "columns: [notes], detectors: [emails] }",
        ),
    )
    .unwrap();
    let (code, _, err) = run(d, &["validate", "jobs/contacts.yaml"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("unknown detector(s) emails; the detectors are: email, phone, credit_card"),
        "{err}"
    );
    let audit = run(d, &["audit", "--env", "dev", "--format", "json"]).1;
    assert!(
        audit.contains("classification_scanned"),
        "the scan is in the audit trail"
    );
}
