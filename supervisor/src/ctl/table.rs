//! Readable text for the responses of the management API.

use std::fmt::Write as _;

use serde_json::Value;

use super::Action;

/// Renders the server's `answer` to `action` for a terminal.
pub(super) fn render(action: &Action, answer: &Value) -> String {
    match action {
        Action::Status(None) => {
            let empty = Vec::new();
            let processes = answer["processes"].as_array().unwrap_or(&empty);
            status_table(processes.iter())
        }
        Action::Status(Some(_)) => status_table(std::iter::once(&answer["process"])),
        Action::Scale { name, .. } => format!(
            "{name}: scaled from {} to {}\n",
            answer["previous_scale"], answer["process"]["desired_scale"]
        ),
        Action::Logs { .. } => {
            let mut text = String::new();
            for line in answer["lines"].as_array().into_iter().flatten() {
                let _ = writeln!(text, "{}", line.as_str().unwrap_or_default());
            }
            text
        }
        Action::Start(name)
        | Action::Stop(name)
        | Action::Restart(name)
        | Action::Trigger(name) => {
            let status = answer["status"].as_str().unwrap_or("done");
            format!("{name}: {status}\n")
        }
    }
}

/// Renders one row per process, then one indented row per instance.
fn status_table<'a>(processes: impl Iterator<Item = &'a Value>) -> String {
    let mut rows = vec![[
        "NAME", "TYPE", "STATE", "HEALTH", "SCALE", "RESTARTS", "PID", "UPTIME",
    ]
    .map(str::to_owned)];
    for process in processes {
        let health = match (
            process["health_check"].as_bool(),
            process["healthy"].as_bool(),
        ) {
            (Some(false), _) => "-",
            (_, Some(true)) => "healthy",
            _ => "unhealthy",
        };
        rows.push([
            text(&process["name"]),
            text(&process["type"]),
            text(&process["state"]),
            health.to_owned(),
            format!("{}/{}", process["current_scale"], process["desired_scale"]),
            process["restarts"]["total"].to_string(),
            String::new(),
            String::new(),
        ]);
        for instance in process["instances"].as_array().into_iter().flatten() {
            rows.push([
                format!("  {}", text(&instance["id"])),
                String::new(),
                text(&instance["state"]),
                String::new(),
                String::new(),
                instance["restarts"].to_string(),
                text(&instance["pid"]),
                instance["uptime_seconds"]
                    .as_f64()
                    .map(uptime)
                    .unwrap_or_default(),
            ]);
        }
    }
    align(&rows)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Formats seconds as `1h02m`, `3m05s` or `42s`.
fn uptime(seconds: f64) -> String {
    let total = seconds.max(0.0) as u64;
    let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

/// Pads every column to its widest cell.
fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn status_lists_processes_and_instances() {
        let answer = json!({"processes": [{
            "name": "queue", "type": "longrun", "state": "running", "healthy": true,
            "health_check": false, "desired_scale": 2, "current_scale": 2,
            "restarts": {"total": 1},
            "instances": [
                {"id": "queue-0", "state": "running", "pid": 41, "restarts": 1, "uptime_seconds": 65.0},
                {"id": "queue-1", "state": "running", "pid": 42, "restarts": 0, "uptime_seconds": 3.2}
            ]
        }]});
        let text = render(&Action::Status(None), &answer);
        let lines: Vec<&str> = text.lines().collect();

        assert!(lines[0].starts_with("NAME"), "{text}");
        assert!(lines[1].starts_with("queue "), "{text}");
        assert!(lines[1].contains("2/2"), "{text}");
        assert!(
            lines[2].contains("queue-0") && lines[2].contains("41"),
            "{text}"
        );
        assert!(lines[2].ends_with("1m05s"), "{text}");
        assert!(lines[3].ends_with("3s"), "{text}");
    }

    #[test]
    fn scale_reports_both_counts() {
        let answer = json!({"previous_scale": 1, "process": {"desired_scale": 3}});
        let action = Action::Scale {
            name: "queue".to_owned(),
            change: super::super::ScaleChange::To(3),
        };

        assert_eq!(render(&action, &answer), "queue: scaled from 1 to 3\n");
    }
}
