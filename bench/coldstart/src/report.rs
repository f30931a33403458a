//! Medians over the runs, the table of ratios to the floor, and its place in
//! docs/performance.md (between the markers).

use std::time::Duration;

pub const BEGIN: &str = "<!-- coldstart:begin -->";
pub const END: &str = "<!-- coldstart:end -->";
pub const SECTION: &str = "## Cold start (`make bench-coldstart`)";

/// One run of one binary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Spawn → first `GET next`.
    pub init: Duration,
    /// The part of `init` spent waiting on AWS calls (the emulator's answers).
    pub init_aws: Duration,
    /// Event handed → answer posted, the first invocation.
    pub first: Duration,
    /// The same for the second invocation.
    pub warm: Duration,
    /// `VmHWM` after the second invocation, in KiB.
    pub peak_rss_kib: u64,
    /// `RssAnon` and `RssFile` after the second invocation, in KiB.
    pub rss_anon_kib: u64,
    pub rss_file_kib: u64,
}

/// The medians of a binary's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub runs: usize,
    pub init_ms: f64,
    /// The median of init minus its AWS waits (per run, then the median).
    pub own_init_ms: f64,
    pub first_ms: f64,
    pub warm_ms: f64,
    pub rss_mib: f64,
    pub anon_mib: f64,
    pub file_mib: f64,
    /// What went wrong in runs that are not counted.
    pub failures: Vec<String>,
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Row {
    pub fn of(name: &str, samples: &[Sample], failures: Vec<String>) -> Self {
        let pick =
            |f: &dyn Fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect::<Vec<_>>());
        Self {
            name: name.to_owned(),
            runs: samples.len(),
            init_ms: pick(&|s| ms(s.init)),
            own_init_ms: pick(&|s| ms(s.init.saturating_sub(s.init_aws))),
            first_ms: pick(&|s| ms(s.first)),
            warm_ms: pick(&|s| ms(s.warm)),
            rss_mib: pick(&|s| s.peak_rss_kib as f64 / 1024.0),
            anon_mib: pick(&|s| s.rss_anon_kib as f64 / 1024.0),
            file_mib: pick(&|s| s.rss_file_kib as f64 / 1024.0),
            failures,
        }
    }
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".into()
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.1}×", a / b)
    } else {
        "—".into()
    }
}

/// The markdown table; `floor` is the row of the echo function, listed first.
pub fn table(floor: &Row, rows: &[Row]) -> String {
    let mut out = String::from(
        "| function | init ms | of it AWS calls ms | first invoke ms | warm invoke ms | peak RSS MiB | RSS anon + file MiB | init ×floor | init without AWS calls ×floor | first/warm | RSS ×floor |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in std::iter::once(floor).chain(rows) {
        let name = if std::ptr::eq(r, floor) {
            format!("*{} (floor)*", r.name)
        } else {
            r.name.clone()
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} + {} | {} | {} | {} | {} |\n",
            num(r.init_ms, 1),
            num(r.init_ms - r.own_init_ms, 1),
            num(r.first_ms, 2),
            num(r.warm_ms, 2),
            num(r.rss_mib, 1),
            num(r.anon_mib, 1),
            num(r.file_mib, 1),
            ratio(r.init_ms, floor.init_ms),
            ratio(r.own_init_ms, floor.own_init_ms),
            ratio(r.first_ms, r.warm_ms),
            ratio(r.rss_mib, floor.rss_mib),
        ));
    }
    out
}

/// Puts `block` between the markers of `doc`; without markers, appends a section.
pub fn splice(doc: &str, block: &str) -> String {
    let inner = format!("{BEGIN}\n{}\n{END}", block.trim_end());
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{inner}{}", &doc[..b], &doc[e + END.len()..])
        }
        _ => format!("{}\n\n{SECTION}\n\n{inner}\n", doc.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(init: u64, first: u64, warm: u64, rss: u64) -> Sample {
        Sample {
            init: Duration::from_millis(init),
            init_aws: Duration::from_millis(init / 3),
            first: Duration::from_millis(first),
            warm: Duration::from_millis(warm),
            peak_rss_kib: rss,
            rss_anon_kib: rss / 4,
            rss_file_kib: rss / 2,
        }
    }

    #[test]
    fn medians_and_ratios_to_the_floor() {
        let floor = Row::of(
            "echo-floor",
            &[
                sample(2, 1, 1, 2048),
                sample(4, 1, 1, 2048),
                sample(3, 1, 1, 4096),
            ],
            vec![],
        );
        assert_eq!(floor.init_ms, 3.0);
        assert_eq!(floor.rss_mib, 2.0);
        let f = Row::of(
            "webhook",
            &[sample(30, 8, 2, 8192), sample(36, 12, 2, 8192)],
            vec![],
        );
        assert_eq!(f.init_ms, 33.0);
        assert_eq!(f.first_ms, 10.0);
        let t = table(&floor, &[f]);
        assert!(t.contains("| *echo-floor (floor)* | 3.0 |"), "{t}");
        assert!(
            t.contains("| webhook | 33.0 | 11.0 | 10.00 | 2.00 | 8.0 | 2.0 + 4.0 | 11.0× | 11.0× | 5.0× | 4.0× |"),
            "{t}"
        );
        let none = Row::of("x", &[], vec!["init error".into()]);
        assert!(table(&floor, &[none]).contains("| x | — |"));
    }

    #[test]
    fn the_table_goes_between_the_markers_or_into_a_new_section() {
        let doc = format!("# P\n\n## Cold start\n\ntext\n\n{BEGIN}\nold\n{END}\n\nafter\n");
        let out = splice(&doc, "new\n");
        assert_eq!(
            out,
            format!("# P\n\n## Cold start\n\ntext\n\n{BEGIN}\nnew\n{END}\n\nafter\n")
        );
        let out = splice("# P\n", "t");
        assert!(out.ends_with(&format!("{SECTION}\n\n{BEGIN}\nt\n{END}\n")));
    }
}
