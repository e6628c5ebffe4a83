//! Optional config keys that the linked phpeek-pm library implements.
//!
//! The library accepts keys of PHPeek PM 1.x that it doesn't implement yet
//! with a warning. The template renders such keys only once the library
//! loads them without one, by asking the loader itself: a tiny config with
//! the key must load with no warnings.

use std::collections::HashMap;

/// Optional features of the library that the templates may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Capabilities {
    /// `global.metrics_enabled` is implemented.
    pub(crate) metrics: bool,
    /// `global.api_enabled` is implemented.
    pub(crate) api: bool,
}

impl Capabilities {
    /// Asks the library's loader about each feature.
    pub(crate) fn probe() -> Capabilities {
        let process = "processes:\n  probe:\n    command: [\"true\"]\n";
        Capabilities {
            metrics: loads_cleanly(&format!("global:\n  metrics_enabled: false\n{process}")),
            api: loads_cleanly(&format!("global:\n  api_enabled: false\n{process}")),
        }
    }
}

/// Returns whether `yaml` loads without errors or warnings.
fn loads_cleanly(yaml: &str) -> bool {
    let env: HashMap<String, String> = HashMap::new();
    phpeek::config::load_str(yaml, "<capability probe>", &env)
        .is_ok_and(|loaded| loaded.warnings.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_process_loads_cleanly() {
        assert!(loads_cleanly(
            "processes:\n  probe:\n    command: [\"true\"]\n"
        ));
        assert!(!loads_cleanly(
            "processes:\n  probe:\n    comand: [\"true\"]\n"
        ));
    }

    /// The template renders the scheduler without asking, so the library
    /// must load a disabled scheduled process next to an enabled one.
    #[test]
    fn library_loads_scheduled_processes() {
        let yaml = "processes:\n  web:\n    command: [\"true\"]\n  \
                    scheduler:\n    enabled: false\n    command: [\"true\"]\n    \
                    schedule: \"* * * * *\"\n";

        assert!(loads_cleanly(yaml));
    }

    /// Fails once the library implements these keys, as a reminder to drop
    /// the TODO branches in templates/phpeek-pm.yaml.j2 and to refresh the
    /// golden files.
    #[test]
    fn library_has_no_metrics_or_api_yet() {
        assert_eq!(Capabilities::probe(), Capabilities::default());
    }
}
