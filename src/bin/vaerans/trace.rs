//! `--trace`: the per-system time table on stderr.

use vaerans::TraceRow;

/// Prints per-system times on stderr, rows of the same system and device (from several
/// codecs) merged.
pub(crate) fn print_trace(rows: Vec<TraceRow>) {
    let merged = TraceRow::merged(rows);
    eprintln!(
        "{:<12} {:>6} {:>6} {:>9} {:>11} {:>11}",
        "system", "device", "runs", "entities", "total ms", "ms/entity"
    );
    for r in &merged {
        eprintln!(
            "{:<12} {:>6} {:>6} {:>9} {:>11.3} {:>11.3}",
            r.system,
            r.device,
            r.runs,
            r.entities,
            r.ms,
            r.ms / r.entities.max(1) as f64
        );
    }
}
