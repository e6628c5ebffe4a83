//! The Grafana dashboard in examples/grafana queries only metrics and
//! labels that phpeek-pm exports, checked against a live scrape.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use phpeek::metrics::families::{self, Origin};
use serde_json::Value;
use support::{free_port, prom, wait_for_port, Dir, Pm};

const LONG: Duration = Duration::from_secs(20);

/// PromQL functions, aggregations and keywords the dashboard may use.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "rate",
    "irate",
    "increase",
    "time",
    "label_values",
    "topk",
    "changes",
    "delta",
    "deriv",
    "abs",
    "clamp_min",
    "bool",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "offset",
];

fn dashboard() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/grafana/phpeek-pm-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Collects every PromQL expression and legend format in `value`.
fn queries(value: &Value, exprs: &mut Vec<String>, legends: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                match (key.as_str(), item) {
                    ("expr" | "definition", Value::String(text)) => exprs.push(text.clone()),
                    ("query", Value::String(text)) => exprs.push(text.clone()),
                    ("legendFormat", Value::String(text)) => legends.push(text.clone()),
                    _ => queries(item, exprs, legends),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| queries(item, exprs, legends)),
        _ => {}
    }
}

/// Splits an expression into its identifiers, with string literals, range
/// selectors and Grafana variables removed. Each identifier comes with the
/// text that follows it.
fn identifiers(expr: &str) -> Vec<(String, String)> {
    let mut cleaned = String::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for inner in chars.by_ref() {
                    if inner == '"' {
                        break;
                    }
                }
                cleaned.push_str("\"\"");
            }
            '[' => {
                for inner in chars.by_ref() {
                    if inner == ']' {
                        break;
                    }
                }
            }
            '$' => {
                while chars
                    .peek()
                    .is_some_and(|next| next.is_alphanumeric() || *next == '_')
                {
                    chars.next();
                }
            }
            other => cleaned.push(other),
        }
    }
    let mut found = Vec::new();
    let bytes: Vec<char> = cleaned.chars().collect();
    let mut index = 0;
    while index < bytes.len() {
        let c = bytes[index];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = index;
            while index < bytes.len()
                && (bytes[index].is_ascii_alphanumeric() || bytes[index] == '_')
            {
                index += 1;
            }
            let word: String = bytes[start..index].iter().collect();
            let rest: String = bytes[index..].iter().collect();
            found.push((word, rest.trim_start().to_owned()));
        } else {
            index += 1;
        }
    }
    found
}

/// Label names of every family in a live scrape of the binary.
fn live_families() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Dir::new();
    let port = free_port();
    let config = format!(
        "global:\n  metrics_enabled: true\n  metrics_address: 127.0.0.1\n  metrics_port: {port}\n\
         hooks:\n  pre-start:\n    - name: prepare\n      command: ['true']\n\
         processes:\n  web:\n    command: [sleep, '1000']\n    health_check:\n      \
         type: exec\n      command: ['true']\n      period: 1\n"
    );
    let mut pm = Pm::start(&dir, &config);
    assert!(wait_for_port(port, LONG), "{}", pm.transcript());
    let complete = support::eventually(LONG, || {
        let (text, _) = prom::scrape(port, "/metrics");
        text.contains("phpeek_pm_process_up") && text.contains("phpeek_pm_hook_executions_total")
    });
    assert!(complete, "{}", pm.transcript());
    let (_, samples) = prom::scrape(port, "/metrics");
    pm.terminate(LONG);

    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for sample in samples {
        found
            .entry(sample.name)
            .or_default()
            .extend(sample.labels.into_keys());
    }
    found
}

#[test]
fn dashboard_uses_only_exported_metrics_and_labels() {
    let live = live_families();
    let catalog: BTreeMap<&str, &families::Family> = families::ALL
        .iter()
        .map(|family| (family.name, family))
        .collect();
    for family in families::ALL {
        if family.origin == Origin::Supervisor {
            let labels: BTreeSet<String> = family.labels.iter().map(|l| l.to_string()).collect();
            assert_eq!(
                live.get(family.name),
                Some(&labels),
                "{} in the scrape",
                family.name
            );
        }
    }

    let mut exprs = Vec::new();
    let mut legends = Vec::new();
    queries(&dashboard(), &mut exprs, &mut legends);
    assert!(exprs.len() >= 10, "too few queries: {exprs:?}");
    let mut all_labels = BTreeSet::new();
    let mut used_metrics = BTreeSet::new();

    for expr in &exprs {
        let mut metrics = Vec::new();
        let mut labels = Vec::new();
        let words = identifiers(expr);
        let mut in_grouping = false;
        for (word, rest) in &words {
            if word.starts_with("phpeek_pm_") {
                metrics.push(word.clone());
            } else if matches!(word.as_str(), "by" | "without") {
                in_grouping = true;
            } else if PROMQL_WORDS.contains(&word.as_str()) {
            } else if in_grouping || rest.starts_with(['=', '!']) || rest.starts_with(')') {
                labels.push(word.clone());
            } else {
                panic!("`{word}` in `{expr}` is neither a phpeek-pm metric, a label nor PromQL");
            }
            if rest.starts_with(')') {
                in_grouping = false;
            }
        }
        assert!(!metrics.is_empty(), "no phpeek-pm metric in `{expr}`");
        let mut allowed = BTreeSet::new();
        for metric in &metrics {
            let family = catalog
                .get(metric.as_str())
                .unwrap_or_else(|| panic!("`{metric}` in `{expr}` is not exported"));
            if family.origin == Origin::Supervisor {
                assert!(
                    live.contains_key(metric.as_str()),
                    "`{metric}` missing from the scrape"
                );
            }
            allowed.extend(family.labels.iter().copied());
            used_metrics.insert(metric.clone());
        }
        for label in &labels {
            assert!(
                allowed.contains(label.as_str()),
                "label `{label}` in `{expr}` is not exported"
            );
        }
        all_labels.extend(allowed);
    }
    for legend in &legends {
        for (word, _) in identifiers(&legend.replace(['{', '}'], " ")) {
            if !["running", "desired", "skipped", "fatal"].contains(&word.as_str()) {
                assert!(
                    all_labels.contains(word.as_str()),
                    "legend label `{word}` in `{legend}`"
                );
            }
        }
    }
    for wanted in [
        "phpeek_pm_process_up",
        "phpeek_pm_process_restarts_total",
        "phpeek_pm_process_cpu_seconds_total",
        "phpeek_pm_process_memory_bytes",
        "phpeek_pm_health_check_status",
        "phpeek_pm_process_current_scale",
        "phpeek_pm_scheduled_task_total",
    ] {
        assert!(used_metrics.contains(wanted), "no panel shows {wanted}");
    }
}

#[test]
fn identifiers_skip_strings_ranges_and_variables() {
    let words =
        identifiers(r#"sum by (process) (rate(x_total{process=~"$process"}[$__rate_interval]))"#);
    let names: Vec<&str> = words.iter().map(|(word, _)| word.as_str()).collect();

    assert_eq!(
        names,
        ["sum", "by", "process", "rate", "x_total", "process"]
    );
}
