//! The environment variables the entrypoint reads: one table, with each
//! variable's default, effect and validator.
//!
//! [`VARIABLES`] is the single source for what the entrypoint reads. Settings
//! are only read through it ([`crate::settings`]), the reference in
//! `docs/environment.md` is generated from it ([`markdown_table`]), and a
//! unit test checks that the two agree.

mod check;
mod table;

pub(crate) use check::{parse_bool, Check};
pub(crate) use table::VARIABLES;

/// One environment variable the entrypoint reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Var {
    /// The variable's name.
    pub(crate) name: &'static str,
    /// The reference section it is listed under.
    pub(crate) section: Section,
    /// The value used when it is unset or empty.
    pub(crate) default: DefaultValue,
    /// The accepted forms.
    pub(crate) check: Check,
    /// The change it makes, in one sentence for the reference table.
    pub(crate) effect: &'static str,
}

/// The value a variable takes when it is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultValue {
    /// No value: the feature is off or the setting is left out.
    Unset,
    /// A fixed value, validated like a set one.
    Value(&'static str),
    /// A value computed from other settings, described for the reference.
    Derived(&'static str),
}

/// Reference sections, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    /// Mode, paths, programs and accounts.
    Entrypoint,
    /// Laravel hooks and the legacy names.
    Laravel,
    /// The processes that phpeek-pm runs besides php-fpm and nginx.
    Processes,
    /// nginx.conf.
    Nginx,
    /// The php.ini drop-in.
    PhpIni,
    /// php-fpm.conf.
    PhpFpm,
}

impl Section {
    const ALL: [Section; 6] = [
        Section::Entrypoint,
        Section::Laravel,
        Section::Processes,
        Section::Nginx,
        Section::PhpIni,
        Section::PhpFpm,
    ];

    fn title(self) -> &'static str {
        match self {
            Section::Entrypoint => "Entrypoint",
            Section::Laravel => "Laravel",
            Section::Processes => "Processes (full mode)",
            Section::Nginx => "nginx",
            Section::PhpIni => "PHP (php.ini)",
            Section::PhpFpm => "php-fpm",
        }
    }
}

/// A validated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A boolean, from any accepted boolean form.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text, normalized where the check defines a normal form.
    Text(String),
    /// A list, such as CIDR ranges.
    List(Vec<String>),
}

/// Renders the reference of every variable as Markdown: one table per
/// section. `docs/environment.md` contains this output.
pub(crate) fn markdown_table() -> String {
    let mut text = String::from(
        "# Environment variables of phpeek-entrypoint\n\n\
         Generated from the table in `entrypoint/src/vars/table.rs` by\n\
         `phpeek-entrypoint --print-env-table`; a unit test checks that this file matches.\n\n\
         An empty value counts as unset, except for header values and\n\
         NGINX_TRUSTED_PROXIES, where empty turns the header or the list off.\n",
    );
    for section in Section::ALL {
        text.push_str(&format!("\n## {}\n\n", section.title()));
        text.push_str("| Variable | Default | Accepted values | Effect |\n");
        text.push_str("|---|---|---|---|\n");
        for var in VARIABLES.iter().filter(|var| var.section == section) {
            let default = match var.default {
                DefaultValue::Unset => "unset".to_owned(),
                DefaultValue::Value(value) => format!("`{value}`"),
                DefaultValue::Derived(description) => description.to_owned(),
            };
            let row = format!(
                "| `{}` | {} | {} | {} |\n",
                var.name,
                escape_cell(&default),
                escape_cell(&var.check.describe()),
                escape_cell(var.effect),
            );
            text.push_str(&row);
        }
    }
    text
}

/// Escapes the pipe, which would end a Markdown table cell.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<&str> = VARIABLES.iter().map(|var| var.name).collect();

        assert_eq!(names.len(), VARIABLES.len());
    }

    #[test]
    fn fixed_defaults_pass_their_check() {
        for var in VARIABLES {
            if let DefaultValue::Value(value) = var.default {
                let parsed = var.check.parse(value);

                assert!(parsed.is_ok(), "{}: {parsed:?}", var.name);
            }
        }
    }

    #[test]
    fn effects_are_sentences() {
        for var in VARIABLES {
            let first = var.effect.chars().next().unwrap_or(' ');

            assert!(first.is_uppercase(), "{}", var.name);
            assert!(var.effect.ends_with('.'), "{}", var.name);
        }
    }

    #[test]
    fn markdown_lists_every_variable_once() {
        let table = markdown_table();
        for var in VARIABLES {
            let row_start = format!("| `{}` |", var.name);

            assert_eq!(table.matches(&row_start).count(), 1, "{}", var.name);
        }
    }

    #[test]
    fn docs_environment_md_matches_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/environment.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();

        assert!(
            committed == markdown_table(),
            "{} is out of date; regenerate it with\n  \
             cargo run -p phpeek-entrypoint -- --print-env-table > docs/environment.md",
            path.display()
        );
    }
}
