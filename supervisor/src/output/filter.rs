//! Include and exclude patterns that drop child output records.

use regex::RegexSet;

use crate::config::LineFilters;

/// The compiled `filters` of one process.
#[derive(Debug, Default)]
pub(crate) struct LineFilter {
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
}

impl LineFilter {
    /// Compiles the patterns into one set per list, so a record is scanned
    /// at most twice however many patterns there are.
    pub(crate) fn new(filters: &LineFilters) -> LineFilter {
        let set = |regexes: &[regex::Regex]| {
            // Each pattern compiled alone when the config loaded, so the
            // set compiles too unless it is too big. Then the list is
            // ignored, which keeps every record.
            let patterns = regexes.iter().map(regex::Regex::as_str);
            RegexSet::new(patterns).ok().filter(|set| !set.is_empty())
        };
        LineFilter {
            include: set(&filters.include),
            exclude: set(&filters.exclude),
        }
    }

    /// Returns whether any pattern is set.
    pub(crate) fn is_active(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }

    /// Returns whether a record with `text` is kept: it matches no exclude
    /// pattern, and an include pattern if there are any.
    pub(crate) fn keeps(&self, text: &str) -> bool {
        if self.exclude.as_ref().is_some_and(|set| set.is_match(text)) {
            return false;
        }
        self.include.as_ref().is_none_or(|set| set.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> LineFilter {
        let compile = |patterns: &[&str]| {
            patterns
                .iter()
                .map(|pattern| Regex::new(pattern).expect("valid pattern"))
                .collect()
        };
        LineFilter::new(&LineFilters {
            include: compile(include),
            exclude: compile(exclude),
        })
    }

    #[test]
    fn no_patterns_keep_everything() {
        let filter = filter(&[], &[]);

        assert!(!filter.is_active());
        assert!(filter.keeps("anything"));
    }

    #[test]
    fn exclude_drops_health_checks() {
        let filter = filter(&[], &[r#""GET /health"#]);
        let health = r#"127.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET /health HTTP/1.1" 200 2"#;
        let page = r#"127.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET /index.php HTTP/1.1" 200 2"#;

        assert!(!filter.keeps(health));
        assert!(filter.keeps(page));
    }

    #[test]
    fn include_keeps_only_matches() {
        let filter = filter(&["ERROR", "WARN"], &[]);

        assert!(filter.keeps("[ERROR] db down"));
        assert!(filter.keeps("WARN slow"));
        assert!(!filter.keeps("INFO ok"));
    }

    #[test]
    fn exclude_wins_over_include() {
        let filter = filter(&["ERROR"], &["ignored"]);

        assert!(!filter.keeps("ERROR but ignored"));
    }
}
