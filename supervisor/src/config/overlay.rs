//! The `PHPEEK_PM_*` overlay: environment variables that set configuration values.
//!
//! The overlay runs on the parsed node tree, before decoding, so a value from
//! a variable is checked, typed and reported exactly like a value from the
//! file. Every node it inserts has [`Origin::Env`], so a problem with it names
//! the variable: `$PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE: processes.queue-default.scale: ...`.
//! A variable wins over the file.
//!
//! # Names
//!
//! - `PHPEEK_PM_GLOBAL_<SETTING>` sets `global.<setting>`, with the path
//!   written in capitals and `_` for `.`: `PHPEEK_PM_GLOBAL_LOG_LEVEL`,
//!   `PHPEEK_PM_GLOBAL_LOG_MULTILINE_ENABLED` (`global.log_multiline.enabled`).
//! - Short names set common global settings: `PHPEEK_PM_LOG_LEVEL`,
//!   `PHPEEK_PM_API_TOKEN` (`global.api_auth`) and the others in
//!   [`settings::SHORT_NAMES`]. The `GLOBAL_` spelling wins over a short
//!   name, with a warning when their values differ.
//! - `PHPEEK_DEBUG` set to a true value sets `global.log_level` to `debug`,
//!   unless a variable sets the log level.
//! - `PHPEEK_PM_PROCESS_<NAME>_<SETTING>` sets `processes.<name>.<setting>`,
//!   and `PHPEEK_PM_PROCESS_<NAME>_ENV_<VAR>` sets `processes.<name>.env.<VAR>`
//!   with `VAR` kept as written. The settings are listed in
//!   [`settings::PROCESS_SETTINGS`].
//!
//! A process name matches a process of the file ignoring case, with `_` and
//! `-` the same: `QUEUE_DEFAULT` is `queue-default`. When a name can be split
//! several ways, a split whose name matches a process of the file wins, then
//! an `_ENV_` split over a setting, and then the shortest name, that is the
//! first `_ENV_` or the longest setting. So `PHP_FPM_HEALTH_CHECK_URL` is
//! `health_check.url` of `php-fpm`. A name that matches no process defines a
//! new one, in lower case with `-` for `_`: `CACHE_WARMUP` is `cache-warmup`.
//!
//! Names that phpeek-pm sets on children ([`settings::NOT_SETTINGS`]) are
//! ignored, as is every variable outside `PHPEEK_PM_*` except `PHPEEK_DEBUG`.
//! Any other `PHPEEK_PM_*` name is an error, with a suggestion when a known
//! name is close. Two variables that set one setting to different values
//! are an error, except that the `GLOBAL_` spelling wins over a short name
//! with a warning, and any log level wins over `PHPEEK_DEBUG`.
//!
//! # Values
//!
//! - A single value is inserted as plain text, and the decoder reads it as
//!   the type of its field: `SCALE=1` is the number 1, and `ENABLED` accepts
//!   true/false, yes/no, on/off and 1/0. An empty value resets the setting
//!   to its default, like `key:` in the file.
//! - A list (`COMMAND`, `DEPENDS_ON`, `HEALTH_CHECK_COMMAND`,
//!   `LOG_REDACTION_PATTERNS`): a value that starts with `[` is a JSON array of
//!   strings, like `["php","artisan","queue:work"]`. Otherwise a value with a
//!   comma is split at every comma and each item trimmed, like
//!   `php,artisan,cache:warm`, and empty items are errors. Otherwise a command
//!   is split into words as a POSIX shell would (`php artisan queue:work`),
//!   and any other list has the value as its one item. A comma-separated
//!   command whose program contains a space is an error, because it is
//!   most likely a shell-style command with a comma in an argument.
//! - Values are literal. `${VAR}` in a value is not substituted, because
//!   Docker Compose and the shell have already expanded the environment.

mod list;
mod names;
mod settings;
#[cfg(test)]
mod tests;

use super::node::{Entry, Node, Origin, Value};
use super::report::{Problem, Problems};
use super::substitute::Lookup;
use super::values::{parse_bool, Invalid};
use names::{Parsed, Rank, Target};
use settings::{global_setting_at, Shape};
pub(crate) use settings::{MILLISECOND_NAMES, SHORT_NAMES};

/// Record of the overlay's changes that the steps after decoding need.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Processes that only variables define, by key.
    created: Vec<Created>,
    /// Dotted paths whose variables had invalid values and were not applied.
    rejected: Vec<String>,
    /// The process keys the file defines, for suggestions.
    file_processes: Vec<String>,
}

#[derive(Debug)]
struct Created {
    key: String,
    /// The name as the variables spell it, like `CACHE_WARMUP`.
    spelling: String,
    variables: Vec<String>,
}

/// One variable's claim on a setting.
struct Assignment {
    variable: String,
    value: String,
    target: Target,
}

/// Applies every overlay variable in `env` to `root` and returns the new root.
///
/// Unknown `PHPEEK_PM_*` names, invalid list values and conflicts between
/// variables are added to `problems`. Variables are applied in name order, so
/// keys they add appear in that order.
pub(crate) fn apply(
    root: Option<Node>,
    env: &dyn Lookup,
    problems: &mut Problems,
) -> (Option<Node>, Applied) {
    let processes = process_keys(root.as_ref());
    let mut variables = env.vars();
    variables.sort();

    let mut assignments = Vec::new();
    for (variable, value) in variables {
        if let Some(assignment) = read_variable(variable, value, &processes, problems) {
            assignments.push(assignment);
        }
    }
    let winners = resolve_conflicts(assignments, problems);
    let Some(first) = winners.first() else {
        return (root, Applied::default());
    };

    let mut root = match root {
        Some(root) if !root.is_null() => root,
        _ => empty_mapping(&first.variable),
    };
    let mut applied = Applied {
        file_processes: processes,
        ..Applied::default()
    };
    for assignment in winners {
        insert(&mut root, assignment, &mut applied, problems);
    }
    (Some(root), applied)
}

/// Adjusts problems that decoding reported about what the overlay did.
///
/// A process defined only by variables that has no command gets a hint that
/// names those variables. A missing `command` whose variable was rejected is
/// dropped, because the rejection is already reported.
pub(crate) fn finish(problems: &mut Vec<Problem>, applied: &Applied) {
    // `Decoder::required_command` words the problem "<owner> has no `command`".
    let missing_command = |problem: &Problem| problem.message.ends_with("has no `command`");
    problems.retain(|problem| {
        let command_path = format!("{}.command", problem.path);
        !(missing_command(problem) && applied.rejected.contains(&command_path))
    });

    for created in &applied.created {
        let path = format!("processes.{}", created.key);
        let names: Vec<String> = created.variables.iter().map(|v| format!("${v}")).collect();
        let hint = match similar_process(&created.key, &applied.file_processes) {
            Some(existing) => {
                let old_prefix = format!("PHPEEK_PM_PROCESS_{}_", created.spelling);
                let new_prefix = format!(
                    "PHPEEK_PM_PROCESS_{}_",
                    existing.to_ascii_uppercase().replace('-', "_")
                );
                let renamed: Vec<String> = names
                    .iter()
                    .map(|name| name.replace(&old_prefix, &new_prefix))
                    .collect();
                format!(
                    "the config has no process `{}`; did you mean `{existing}`, as in {}? \
                     For a new process, set $PHPEEK_PM_PROCESS_{}_COMMAND too",
                    created.key,
                    renamed.join(", "),
                    created.spelling
                )
            }
            None => format!(
                "the process is defined only by {}, so set $PHPEEK_PM_PROCESS_{}_COMMAND too, \
                 like php,artisan,cache:warm",
                names.join(", "),
                created.spelling
            ),
        };
        for problem in problems.iter_mut() {
            if problem.path == path && missing_command(problem) {
                problem.set_hint(hint.clone());
            }
        }
    }
}

/// Returns the process of the file whose key is closest to `key`, within
/// two edits, as for a typo such as `queue-defalut`.
fn similar_process<'p>(key: &str, processes: &'p [String]) -> Option<&'p str> {
    processes
        .iter()
        .map(|process| (strsim::damerau_levenshtein(key, process), process))
        .filter(|(distance, _)| (1..=2).contains(distance))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, process)| process.as_str())
}

/// Returns the process keys of the file, in file order.
fn process_keys(root: Option<&Node>) -> Vec<String> {
    let processes = root
        .and_then(Node::entries)
        .and_then(|entries| entries.iter().find(|entry| entry.key == "processes"))
        .and_then(|entry| entry.value.entries())
        .unwrap_or_default();
    processes.iter().map(|entry| entry.key.clone()).collect()
}

fn read_variable(
    variable: String,
    value: String,
    processes: &[String],
    problems: &mut Problems,
) -> Option<Assignment> {
    if variable == "PHPEEK_DEBUG" {
        return read_debug(variable, &value, problems);
    }
    match names::parse(&variable, processes) {
        Parsed::Ignored => None,
        Parsed::Target(target) => {
            let is_whole_number = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            let value = if is_whole_number && MILLISECOND_NAMES.contains(&variable.as_str()) {
                format!("{value}ms")
            } else {
                value
            };
            Some(Assignment {
                variable,
                value,
                target,
            })
        }
        Parsed::Unknown {
            path,
            message,
            hint,
        } => {
            let at = Origin::Env(variable);
            problems.error(&at, path, message).set_hint(hint);
            None
        }
    }
}

/// Reads `PHPEEK_DEBUG`, whose true value sets the debug log level.
fn read_debug(variable: String, value: &str, problems: &mut Problems) -> Option<Assignment> {
    if value.is_empty() {
        return None;
    }
    match parse_bool(value) {
        Ok(true) => {
            let setting = global_setting_at("log_level")?;
            Some(Assignment {
                variable,
                value: "debug".to_owned(),
                target: names::global_target(setting, Rank::Debug),
            })
        }
        Ok(false) => None,
        Err(invalid) => {
            let problem = problems.error(&Origin::Env(variable), "", invalid.message);
            if let Some(hint) = invalid.hint {
                problem.set_hint(hint);
            }
            None
        }
    }
}

/// Keeps one assignment per path: the highest rank, then the first name.
/// Reports losers whose values differ from the winner's.
fn resolve_conflicts(mut assignments: Vec<Assignment>, problems: &mut Problems) -> Vec<Assignment> {
    assignments.sort_by(|a, b| {
        let by_path = a.target.path.cmp(&b.target.path);
        by_path
            .then(b.target.rank.cmp(&a.target.rank))
            .then(a.variable.cmp(&b.variable))
    });

    let mut winners: Vec<Assignment> = Vec::new();
    for assignment in assignments {
        match winners.last() {
            Some(winner) if winner.target.path == assignment.target.path => {
                report_loser(winner, &assignment, problems);
            }
            _ => winners.push(assignment),
        }
    }
    winners.sort_by(|a, b| a.variable.cmp(&b.variable));
    winners
}

fn report_loser(winner: &Assignment, loser: &Assignment, problems: &mut Problems) {
    if loser.value == winner.value || loser.target.rank == Rank::Debug {
        return;
    }
    let at = Origin::Env(loser.variable.clone());
    let path = loser.target.path.join(".");
    if loser.target.rank == winner.target.rank {
        let message = format!(
            "${} sets the same setting to a different value",
            winner.variable
        );
        problems
            .error(&at, &path, message)
            .set_hint("unset one of them");
    } else {
        let message = format!("the value is overridden by ${}", winner.variable);
        problems.warning(&at, &path, message);
    }
}

fn empty_mapping(variable: &str) -> Node {
    Node {
        origin: Origin::Env(variable.to_owned()),
        value: Value::Mapping(Vec::new()),
    }
}

/// Writes one assignment into the tree, creating mappings on the way.
fn insert(root: &mut Node, assignment: Assignment, applied: &mut Applied, problems: &mut Problems) {
    let Assignment {
        variable,
        value,
        target,
    } = assignment;
    let at = Origin::Env(variable.clone());
    let dotted = target.path.join(".");

    let node = match value_node(&value, target.shape, &at) {
        Ok(node) => node,
        Err(invalid) => {
            let problem = problems.error(&at, &dotted, invalid.message);
            if let Some(hint) = invalid.hint {
                problem.set_hint(hint);
            }
            applied.rejected.push(dotted);
            return;
        }
    };
    if let Err(blocked) = set(root, &target.path, node, &variable) {
        let blocked = if blocked.is_empty() {
            "the top level of the file".to_owned()
        } else {
            format!("`{blocked}`")
        };
        let message = format!("can't set `{dotted}`, because {blocked} is not a mapping");
        let hint = "fix the configuration file, or unset the variable";
        problems.error(&at, &dotted, message).set_hint(hint);
        return;
    }

    if let Some(new) = target.new_process {
        match applied.created.iter_mut().find(|c| c.key == new.key) {
            Some(created) => created.variables.push(variable),
            None => applied.created.push(Created {
                key: new.key,
                spelling: new.spelling,
                variables: vec![variable],
            }),
        }
    }
}

/// Builds the node for a value.
///
/// # Errors
///
/// Returns why a list value is invalid.
fn value_node(value: &str, shape: Shape, at: &Origin) -> Result<Node, Invalid> {
    // Values are literal, and the decoder substitutes `${`, so it is escaped.
    let literal = |text: &str| text.replace("${", "$${");
    let node = match shape {
        Shape::Scalar if value.is_empty() => Node::scalar("~", false, at.clone()),
        Shape::Scalar => Node::scalar(literal(value), false, at.clone()),
        Shape::Map => Node::scalar(literal(value), true, at.clone()),
        Shape::List | Shape::Command => {
            let items = list::parse_list(value, shape == Shape::Command)?;
            let items = items
                .iter()
                .map(|item| Node::scalar(literal(item), true, at.clone()))
                .collect();
            Node {
                origin: at.clone(),
                value: Value::Sequence(items),
            }
        }
    };
    Ok(node)
}

/// Sets the value at `path`, replacing what is there. Missing or null
/// mappings on the way are created. Returns the dotted path of a node on the
/// way that is something other than a mapping.
fn set(root: &mut Node, path: &[String], value: Node, variable: &str) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut node = root;
    for (depth, key) in parents.iter().enumerate() {
        node = child(node, key, variable).ok_or_else(|| path[..depth].join("."))?;
    }
    let blocked = || parents.join(".");
    let slot = child(node, last, variable).ok_or_else(blocked)?;
    *slot = value;
    Ok(())
}

/// Returns the value under `key`, adding the key with a null value when it
/// is missing. A null `node` becomes an empty mapping first. Returns none
/// when `node` is a list or a non-null scalar.
fn child<'n>(node: &'n mut Node, key: &str, variable: &str) -> Option<&'n mut Node> {
    if node.is_null() {
        *node = empty_mapping(variable);
    }
    let Value::Mapping(entries) = &mut node.value else {
        return None;
    };
    let index = match entries.iter().position(|entry| entry.key == key) {
        Some(index) => index,
        None => {
            let origin = Origin::Env(variable.to_owned());
            entries.push(Entry {
                key: key.to_owned(),
                key_origin: origin.clone(),
                value: Node::scalar("~", false, origin),
            });
            entries.len() - 1
        }
    };
    entries.get_mut(index).map(|entry| &mut entry.value)
}
