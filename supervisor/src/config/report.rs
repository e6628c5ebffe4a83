//! Problems found while loading a configuration, and the report that lists them.

use std::fmt;

use serde::Serialize;

use super::node::Origin;

/// Level of a [`Problem`]: an error stops loading and a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration can't be used until this is fixed.
    Error,
    /// The configuration loads, but part of it has no effect or is suspicious.
    Warning,
}

/// One error or warning about a configuration, with the place it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Name of the configuration file, as given to the loader.
    pub file: String,
    /// Line of the offending node, starting at 1; none for problems with the
    /// whole file or with a value set by an environment variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column of the offending node, starting at 1. Absent whenever `line` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Environment variable that set the offending value, when it didn't come
    /// from the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// Dotted key path of the value, like `processes.nginx.health_check.period`.
    /// Empty for the file as a whole.
    pub path: String,
    /// Description of the problem.
    pub message: String,
    /// Suggested fix, when there is something specific to suggest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    /// Builds a problem about the whole file, such as a failed read.
    pub(crate) fn about_file(file: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            file: file.to_owned(),
            line: None,
            column: None,
            variable: None,
            path: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the hint shown after the message.
    pub(crate) fn set_hint(&mut self, hint: impl Into<String>) {
        self.hint = Some(hint.into());
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.variable, self.line, self.column) {
            (Some(variable), _, _) => write!(f, "${variable}: ")?,
            (None, Some(line), Some(column)) => write!(f, "{}:{line}:{column}: ", self.file)?,
            (None, Some(line), None) => write!(f, "{}:{line}: ", self.file)?,
            (None, None, _) => write!(f, "{}: ", self.file)?,
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration that failed to load.
///
/// Errors come first, then warnings; each group is in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    problems: Vec<Problem>,
}

impl Report {
    /// Builds a report from problems in any order.
    pub(crate) fn new(mut problems: Vec<Problem>) -> Report {
        problems.sort_by_key(|problem| {
            let position = (problem.line.unwrap_or(usize::MAX), problem.column);
            (problem.severity, problem.variable.is_some(), position)
        });
        Report { problems }
    }

    /// Returns every problem: errors first, then warnings.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Returns the errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|problem| problem.severity == Severity::Error)
    }

    /// Returns the warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|problem| problem.severity == Severity::Warning)
    }

    /// Converts the report into its problems, errors first.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

/// Collects problems while a file is loaded, tagging each with the file name.
#[derive(Debug)]
pub(crate) struct Problems {
    file: String,
    list: Vec<Problem>,
}

impl Problems {
    /// Starts an empty collection for the file named `file`.
    pub(crate) fn new(file: &str) -> Problems {
        Problems {
            file: file.to_owned(),
            list: Vec::new(),
        }
    }

    /// Records an error at `at` and returns it so a hint can be added.
    pub(crate) fn error(
        &mut self,
        at: &Origin,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Problem {
        self.push(Severity::Error, at, path, message.into())
    }

    /// Records a warning at `at` and returns it so a hint can be added.
    pub(crate) fn warning(
        &mut self,
        at: &Origin,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Problem {
        self.push(Severity::Warning, at, path, message.into())
    }

    /// Tells whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.list
            .iter()
            .any(|problem| problem.severity == Severity::Error)
    }

    /// Returns everything recorded so far.
    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.list
    }

    fn push(
        &mut self,
        severity: Severity,
        at: &Origin,
        path: &str,
        message: String,
    ) -> &mut Problem {
        let (line, column, variable) = match at {
            Origin::File { line, column } => (Some(*line), Some(*column), None),
            Origin::Env(name) => (None, None, Some(name.clone())),
        };
        let index = self.list.len();
        self.list.push(Problem {
            severity,
            file: self.file.clone(),
            line,
            column,
            variable,
            path: path.to_owned(),
            message,
            hint: None,
        });
        &mut self.list[index]
    }
}

/// Returns "did you mean `x`?" for the candidate closest to `word`, if any is close.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|(candidate, _)| format!("did you mean `{candidate}`?"))
}

/// Returns the candidate closest to `word` with its similarity, from 0 to 1,
/// if any is close enough to suggest.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, f64)> {
    // Jaro-Winkler weighs a shared prefix, so both a typo ("php-fmp") and a
    // longer spelling ("warning" for `warn`) score above 0.85, while unrelated
    // names of similar length ("redis", "nginx") score near 0.5.
    const MIN_SIMILARITY: f64 = 0.85;

    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        let similarity = strsim::jaro_winkler(word, candidate);
        if similarity >= MIN_SIMILARITY && best.is_none_or(|(_, score)| similarity > score) {
            best = Some((candidate, similarity));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(severity: Severity, line: Option<usize>) -> Problem {
        Problem {
            severity,
            file: "phpeek-pm.yaml".to_owned(),
            line,
            column: line.map(|_| 5),
            variable: None,
            path: "processes.nginx.depends_on".to_owned(),
            message: "process `php-fmp` is not defined".to_owned(),
            hint: Some("did you mean `php-fpm`?".to_owned()),
        }
    }

    #[test]
    fn problem_displays_file_position_path_and_hint() {
        let text = problem(Severity::Error, Some(12)).to_string();

        assert_eq!(
            text,
            "phpeek-pm.yaml:12:5: processes.nginx.depends_on: \
             process `php-fmp` is not defined (did you mean `php-fpm`?)"
        );
    }

    #[test]
    fn warning_display_says_warning() {
        let text = problem(Severity::Warning, Some(3)).to_string();

        assert!(
            text.starts_with("phpeek-pm.yaml:3:5: warning: processes."),
            "{text}"
        );
    }

    #[test]
    fn problem_from_environment_names_variable() {
        let mut problems = Problems::new("phpeek-pm.yaml");
        let at = Origin::Env("PHPEEK_PM_PROCESS_X_SCALE".to_owned());

        problems.error(&at, "processes.x.scale", "must be at least 1");
        let text = problems.into_vec()[0].to_string();

        assert_eq!(
            text,
            "$PHPEEK_PM_PROCESS_X_SCALE: processes.x.scale: must be at least 1"
        );
    }

    #[test]
    fn report_lists_errors_before_warnings_in_file_order() {
        let report = Report::new(vec![
            problem(Severity::Warning, Some(1)),
            problem(Severity::Error, Some(9)),
            problem(Severity::Error, Some(2)),
        ]);

        let lines: Vec<Option<usize>> = report.problems().iter().map(|p| p.line).collect();

        assert_eq!(lines, [Some(2), Some(9), Some(1)]);
        assert_eq!(report.errors().count(), 2);
        assert_eq!(report.warnings().count(), 1);
        assert_eq!(report.to_string().lines().count(), 3);
    }

    #[test]
    fn problem_serializes_without_empty_fields() {
        let json =
            serde_json::to_value(Problem::about_file("a.yaml", "not found")).unwrap_or_default();

        assert_eq!(json["severity"], "error");
        assert_eq!(json["file"], "a.yaml");
        assert!(json.get("line").is_none());
        assert!(json.get("hint").is_none());
    }

    #[test]
    fn did_you_mean_picks_close_candidate() {
        let names = ["php-fpm", "nginx", "horizon"];

        assert_eq!(
            did_you_mean("php-fmp", names).as_deref(),
            Some("did you mean `php-fpm`?")
        );
        assert_eq!(did_you_mean("redis", names), None);
    }
}
