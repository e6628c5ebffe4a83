//! Helpers for the loader's unit tests: load text with a fixed environment.

use std::collections::HashMap;

use super::{load_str, Config, Loaded, Problem, Report};

/// The file name problems carry in tests.
pub(crate) const FILE: &str = "phpeek-pm.yaml";

/// Returns a fixed environment: `APP_ENV=production`, `FPM_PORT=9000`, `EMPTY=`.
pub(crate) fn env() -> HashMap<String, String> {
    [
        ("APP_ENV", "production"),
        ("FPM_PORT", "9000"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Loads `yaml` with the fixed environment.
pub(crate) fn load(yaml: &str) -> Result<Loaded, Report> {
    load_str(yaml, FILE, &env())
}

/// Loads `yaml` and fails the test with the report if it has errors.
pub(crate) fn loaded(yaml: &str) -> Loaded {
    match load(yaml) {
        Ok(loaded) => loaded,
        Err(report) => panic!("expected the configuration to load, got:\n{report}"),
    }
}

/// Loads `yaml`, which must be valid, and returns the configuration.
pub(crate) fn config(yaml: &str) -> Config {
    loaded(yaml).config
}

/// Loads `yaml`, which must fail, and returns its errors.
pub(crate) fn errors(yaml: &str) -> Vec<Problem> {
    match load(yaml) {
        Ok(loaded) => panic!("expected errors, but it loaded: {loaded:?}"),
        Err(report) => report.errors().cloned().collect(),
    }
}

/// Loads `yaml`, which must fail with exactly one error, and returns it.
pub(crate) fn only_error(yaml: &str) -> Problem {
    let mut errors = errors(yaml);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.remove(0)
}

/// Returns the line and column of a problem.
pub(crate) fn position(problem: &Problem) -> (Option<usize>, Option<usize>) {
    (problem.line, problem.column)
}

/// Returns the names of the loaded processes, in start order.
pub(crate) fn names(config: &Config) -> Vec<&str> {
    config
        .processes
        .iter()
        .map(|process| process.name.as_str())
        .collect()
}
