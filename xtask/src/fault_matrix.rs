//! `cargo xtask fault-matrix`: runs the fault matrix's tests with `FAULT_MATRIX_WRITE` set, so
//! that each cell writes its outcome (`recent|fault|service|outcome`) to a file, and writes the
//! two tables into RELIABILITY.md between their markers. The tests check RELIABILITY.md against
//! themselves on every other run.

use std::collections::BTreeMap;

/// The services in column order, as the tests name them.
const SERVICES: [&str; 5] = ["SSM", "Secrets Manager", "S3", "DynamoDB", "AppConfig"];

pub(crate) fn write() -> Result<(), String> {
    let out = crate::root().join("target/fault-matrix");
    let _ = std::fs::remove_dir_all(&out);
    crate::test_with(
        &[
            "--test".into(),
            "fault_matrix".into(),
            "--".into(),
            // Checks the tables this run is about to write.
            "--skip".into(),
            "the_tables_have_a_row_per_fault_and_a_column_per_service".into(),
        ],
        &[("FAULT_MATRIX_WRITE", out.as_os_str())],
    )?;
    let mut cells: BTreeMap<(bool, String, String), String> = BTreeMap::new();
    let entries = std::fs::read_dir(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let parts: Vec<&str> = text.splitn(4, '|').collect();
        let [recent, fault, service, outcome] = parts[..] else {
            return Err(format!(
                "{}: not recent|fault|service|outcome",
                path.display()
            ));
        };
        if !FAULTS.contains(&fault) || !SERVICES.contains(&service) {
            return Err(format!("{}: unknown fault or service", path.display()));
        }
        cells.insert(
            (recent == "true", fault.to_owned(), service.to_owned()),
            outcome.to_owned(),
        );
    }
    let path = crate::root().join("RELIABILITY.md");
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for recent in [true, false] {
        let marker = format!(
            "<!-- fault-matrix: {} -->",
            if recent { "with" } else { "without" }
        );
        let mut table = format!("{marker}\n| fault | {} |\n|---|", SERVICES.join(" | "));
        table.push_str(&"---|".repeat(SERVICES.len()));
        table.push('\n');
        for fault in FAULTS {
            table.push_str(&format!("| {fault} |"));
            for service in SERVICES {
                let outcome = cells
                    .get(&(recent, fault.to_owned(), service.to_owned()))
                    .ok_or_else(|| format!("no outcome for {fault}, {service}, recent={recent}"))?;
                table.push_str(&format!(" {outcome} |"));
            }
            table.push('\n');
        }
        let start = text
            .find(&marker)
            .ok_or_else(|| format!("RELIABILITY.md has no `{marker}`"))?;
        let end = text[start..]
            .find("\n\n")
            .map_or(text.len(), |n| start + n + 1);
        text.replace_range(start..end, &table);
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "xtask: RELIABILITY.md: {} cells written from the tests",
        cells.len()
    );
    Ok(())
}

/// The faults in row order, as `Fault::label` in the testkit names them.
const FAULTS: [&str; 8] = [
    "throttled",
    "500",
    "503",
    "no answer (timeout)",
    "connection refused",
    "reset mid-body",
    "malformed body",
    "HTML instead (wrong content type)",
];
