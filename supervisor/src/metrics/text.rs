//! Writing the Prometheus text exposition format, version 0.0.4.
//!
//! Each [`Sink`] collects the samples of one family into its own buffer, so
//! the collector can fill several families while it walks the processes
//! once, and [`Sink::append_to`] then puts each family's lines together
//! under its `# HELP` and `# TYPE` lines. A family without samples writes
//! nothing.

use std::fmt::Write as _;

use super::families::{Family, Kind};

/// The samples of one family, already in text form.
pub(crate) struct Sink {
    family: &'static Family,
    lines: String,
}

impl Sink {
    pub(crate) fn new(family: &'static Family) -> Sink {
        Sink {
            family,
            lines: String::new(),
        }
    }

    /// Adds the sample with label values `labels`, given in the family's
    /// label order. Counters never show a negative or non-finite value:
    /// those become 0.
    pub(crate) fn set(&mut self, labels: &[&str], value: f64) {
        if labels.len() != self.family.labels.len() {
            tracing::debug!(metric = self.family.name, "wrong number of label values");
            return;
        }
        let value = match self.family.kind {
            Kind::Counter if !value.is_finite() => 0.0,
            Kind::Counter => value.max(0.0),
            Kind::Gauge => value,
        };
        let lines = &mut self.lines;
        lines.push_str(self.family.name);
        for (index, (name, value)) in self.family.labels.iter().zip(labels).enumerate() {
            lines.push(if index == 0 { '{' } else { ',' });
            lines.push_str(name);
            lines.push_str("=\"");
            push_escaped(lines, value, true);
            lines.push('"');
        }
        if !labels.is_empty() {
            lines.push('}');
        }
        lines.push(' ');
        push_value(lines, value);
        lines.push('\n');
    }

    /// Appends the family's HELP and TYPE lines and its samples to `out`,
    /// unless it has no samples.
    pub(crate) fn append_to(self, out: &mut String) {
        if self.lines.is_empty() {
            return;
        }
        out.push_str("# HELP ");
        out.push_str(self.family.name);
        out.push(' ');
        push_escaped(out, self.family.help, false);
        out.push_str("\n# TYPE ");
        out.push_str(self.family.name);
        out.push_str(match self.family.kind {
            Kind::Gauge => " gauge\n",
            Kind::Counter => " counter\n",
        });
        out.push_str(&self.lines);
    }
}

/// Appends `text` with backslash and newline escaped, and double quotes
/// too when it is a label value (help text leaves them as they are).
fn push_escaped(out: &mut String, text: &str, quotes: bool) {
    let special = |c: char| c == '\\' || c == '\n' || (quotes && c == '"');
    if !text.contains(special) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            other => out.push(other),
        }
    }
}

/// Appends a sample value as Prometheus reads it: integers without a
/// fraction, `+Inf`, `-Inf` and `NaN` spelled out.
fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::families::Origin;

    const TWO_LABELS: Family = Family {
        name: "phpeek_pm_test_total",
        kind: Kind::Counter,
        labels: &["process", "reason"],
        help: "Help with a \\ and a\nnewline and \"quotes\".",
        origin: Origin::Supervisor,
    };

    const NO_LABELS: Family = Family {
        name: "phpeek_pm_test_gauge",
        kind: Kind::Gauge,
        labels: &[],
        help: "Plain.",
        origin: Origin::Supervisor,
    };

    fn render(sink: Sink) -> String {
        let mut out = String::new();
        sink.append_to(&mut out);
        out
    }

    #[test]
    fn family_has_help_type_and_samples_in_order() {
        let mut sink = Sink::new(&TWO_LABELS);
        sink.set(&["web", "crash"], 3.0);
        sink.set(&["web", "exit"], 0.5);

        assert_eq!(
            render(sink),
            "# HELP phpeek_pm_test_total Help with a \\\\ and a\\nnewline and \"quotes\".\n\
             # TYPE phpeek_pm_test_total counter\n\
             phpeek_pm_test_total{process=\"web\",reason=\"crash\"} 3\n\
             phpeek_pm_test_total{process=\"web\",reason=\"exit\"} 0.5\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut sink = Sink::new(&TWO_LABELS);
        sink.set(&["a\"b\\c\nd", "crash"], 1.0);

        assert!(render(sink)
            .contains("phpeek_pm_test_total{process=\"a\\\"b\\\\c\\nd\",reason=\"crash\"} 1\n"));
    }

    #[test]
    fn gauge_without_labels_and_special_values() {
        let mut sink = Sink::new(&NO_LABELS);
        sink.set(&[], f64::NAN);
        sink.set(&[], f64::INFINITY);
        sink.set(&[], f64::NEG_INFINITY);
        sink.set(&[], -2.25);
        sink.set(&[], 1_700_000_000.0);

        let text = render(sink);
        let samples: Vec<_> = text.lines().skip(2).collect();
        assert_eq!(
            samples,
            [
                "phpeek_pm_test_gauge NaN",
                "phpeek_pm_test_gauge +Inf",
                "phpeek_pm_test_gauge -Inf",
                "phpeek_pm_test_gauge -2.25",
                "phpeek_pm_test_gauge 1700000000",
            ]
        );
    }

    #[test]
    fn counters_never_go_negative_or_infinite() {
        let mut sink = Sink::new(&TWO_LABELS);
        sink.set(&["web", "crash"], -1.0);
        sink.set(&["web", "exit"], f64::INFINITY);

        let text = render(sink);
        assert!(text.contains("reason=\"crash\"} 0\n"));
        assert!(text.contains("reason=\"exit\"} 0\n"));
    }

    #[test]
    fn wrong_label_count_and_empty_family_write_nothing() {
        let mut sink = Sink::new(&TWO_LABELS);
        sink.set(&["web"], 1.0);

        assert_eq!(render(sink), "");
    }
}
