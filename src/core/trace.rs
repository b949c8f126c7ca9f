//! The world's time table: one row per system and device, summed over every pipe step.

/// Accumulated time of one system on one device, over every pipe a world ran since the last
/// [`World::take_trace`](crate::World::take_trace).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TraceRow {
    /// System name.
    pub system: String,
    /// Where it ran.
    pub device: String,
    /// Pipe steps that ran it.
    pub runs: usize,
    /// Entities processed, over all runs.
    pub entities: usize,
    /// Wall time over all runs, milliseconds.
    pub ms: f64,
}

impl TraceRow {
    /// One run of `system` on `device` over `entities` entities in `ms` milliseconds.
    pub fn new(
        system: impl Into<String>,
        device: impl Into<String>,
        entities: usize,
        ms: f64,
    ) -> Self {
        Self {
            system: system.into(),
            device: device.into(),
            runs: 1,
            entities,
            ms,
        }
    }

    /// Adds `row` to the row of the same system and device in `rows`, or appends it: rows stay
    /// in first-seen order.
    pub fn add_to(rows: &mut Vec<TraceRow>, row: TraceRow) {
        match rows
            .iter_mut()
            .find(|r| r.system == row.system && r.device == row.device)
        {
            Some(r) => {
                r.runs += row.runs;
                r.entities += row.entities;
                r.ms += row.ms;
            }
            None => rows.push(row),
        }
    }

    /// `rows` with the rows of the same system and device summed into one, in first-seen order
    /// (for traces taken from several worlds).
    pub fn merged(rows: impl IntoIterator<Item = TraceRow>) -> Vec<TraceRow> {
        let mut out = Vec::new();
        for r in rows {
            Self::add_to(&mut out, r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_system_and_device_merge_in_first_seen_order() {
        let rows = TraceRow::merged([
            TraceRow::new("a", "cpu", 2, 1.0),
            TraceRow::new("b", "gpu", 1, 2.0),
            TraceRow::new("a", "gpu", 1, 4.0),
            TraceRow::new("a", "cpu", 3, 8.0),
        ]);
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.system.as_str(),
                    r.device.as_str(),
                    r.runs,
                    r.entities,
                    r.ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "cpu", 2, 5, 9.0),
                ("b", "gpu", 1, 1, 2.0),
                ("a", "gpu", 1, 1, 4.0)
            ]
        );
    }
}
