//! Reading a `PHPEEK_PM_*` variable name as the setting it sets.
//!
//! The grammar is described in the [overlay module](super). This module only
//! maps names to paths in the node tree, and values are read elsewhere.

use super::settings::{
    env_form, global_setting, global_setting_at, Setting, Shape, NOT_SETTINGS, PROCESS_SETTINGS,
    SHORT_NAMES,
};
use crate::config::report::closest;

const PROCESS_PREFIX: &str = "PHPEEK_PM_PROCESS_";
const GLOBAL_PREFIX: &str = "PHPEEK_PM_GLOBAL_";
const PREFIX: &str = "PHPEEK_PM_";

/// Precedence of a variable over others that set the same setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// `PHPEEK_DEBUG`, which yields to any log level that is set.
    Debug,
    /// A short global name such as `PHPEEK_PM_LOG_LEVEL`.
    Short,
    /// A name with the section spelled out: `PHPEEK_PM_GLOBAL_*` or `PHPEEK_PM_PROCESS_*`.
    Exact,
}

/// The place a variable sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Keys from the root, like `["processes", "queue-default", "scale"]`.
    pub(crate) path: Vec<String>,
    /// Form of the value. [`Shape::Map`] means one string entry of the
    /// mapping, whose key is the last element of `path`.
    pub(crate) shape: Shape,
    /// Precedence over other variables that set the same path.
    pub(crate) rank: Rank,
    /// The process, when the file doesn't define it and the variable does.
    pub(crate) new_process: Option<NewProcess>,
}

/// A process that variables define because the file has no such process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewProcess {
    /// Key under `processes`: the name in lower case with `-` for `_`.
    pub(crate) key: String,
    /// The name as the variable spells it, like `CACHE_WARMUP`.
    pub(crate) spelling: String,
}

/// The result of reading one variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The variable is not for the overlay.
    Ignored,
    /// The variable sets this place.
    Target(Target),
    /// The variable starts with `PHPEEK_PM_` but matches no setting.
    Unknown {
        /// Section the problem is reported under.
        path: &'static str,
        /// Description of the problem.
        message: String,
        /// Suggested fix.
        hint: String,
    },
}

/// Reads `name`. `processes` are the process keys the file defines, in file order.
///
/// `PHPEEK_DEBUG` is not handled here, because its effect depends on its value.
pub(crate) fn parse(name: &str, processes: &[String]) -> Parsed {
    if !name.starts_with(PREFIX) || NOT_SETTINGS.contains(&name) {
        return Parsed::Ignored;
    }
    if let Some(rest) = name.strip_prefix(PROCESS_PREFIX) {
        return parse_process(rest, processes);
    }
    if let Some(rest) = name.strip_prefix(GLOBAL_PREFIX) {
        return match global_setting(rest) {
            Some(setting) => Parsed::Target(global_target(setting, Rank::Exact)),
            None => unknown_global(rest),
        };
    }
    let short = SHORT_NAMES
        .iter()
        .find(|(short, _)| *short == name)
        .and_then(|(_, path)| global_setting_at(path));
    match short {
        Some(setting) => Parsed::Target(global_target(setting, Rank::Short)),
        None => unknown_name(&name[PREFIX.len()..], processes),
    }
}

/// Builds the target of a global setting.
pub(crate) fn global_target(setting: &Setting, rank: Rank) -> Target {
    let mut path = vec!["global".to_owned()];
    path.extend(setting.path.split('.').map(str::to_owned));
    Target {
        path,
        shape: setting.shape,
        rank,
        new_process: None,
    }
}

/// One way to read the part after `PHPEEK_PM_PROCESS_` as a name and a setting.
#[derive(Debug)]
struct Split<'a> {
    /// The process name as written.
    name: &'a str,
    setting: &'static Setting,
    /// The key inside a [`Shape::Map`] setting, as written.
    key: Option<&'a str>,
}

fn parse_process(rest: &str, processes: &[String]) -> Parsed {
    let splits = splits(rest);
    let existing = |split: &Split<'_>| matching_processes(split.name, processes);
    let in_file = |split: &Split<'_>| !existing(split).is_empty();

    // Prefer a name the file defines, then a mapping entry (`_ENV_`) over a
    // plain setting. Within one kind the shortest name wins, which means the
    // first `_ENV_` and the longest setting.
    let kinds = [(true, true), (true, false), (false, true), (false, false)];
    let chosen = kinds.iter().find_map(|&(want_existing, want_map)| {
        splits
            .iter()
            .filter(|split| split.key.is_some() == want_map)
            .filter(|split| in_file(split) == want_existing)
            .min_by_key(|split| split.name.len())
    });
    let Some(split) = chosen else {
        return unknown_process(rest, processes);
    };

    let matches = existing(split);
    if matches.len() > 1 {
        return Parsed::Unknown {
            path: "processes",
            message: format!(
                "`{}` matches more than one process: {}",
                split.name,
                matches.join(", ")
            ),
            hint: "rename the processes so that they differ in more than `-` and `_`".to_owned(),
        };
    }
    let (key, new_process) = match matches.first() {
        Some(key) => ((*key).to_owned(), None),
        None => {
            let key = process_key(split.name);
            let spelling = split.name.to_owned();
            (key.clone(), Some(NewProcess { key, spelling }))
        }
    };

    let mut path = vec!["processes".to_owned(), key];
    path.extend(split.setting.path.split('.').map(str::to_owned));
    path.extend(split.key.map(str::to_owned));
    Parsed::Target(Target {
        path,
        shape: split.setting.shape,
        rank: Rank::Exact,
        new_process,
    })
}

/// Lists every way to split `rest` into a non-empty name and a known setting.
fn splits(rest: &str) -> Vec<Split<'_>> {
    // ASCII upper-casing keeps byte offsets, so they apply to `rest` too.
    let upper = rest.to_ascii_uppercase();
    let mut splits = Vec::new();
    for setting in PROCESS_SETTINGS {
        let form = env_form(setting.path);
        if setting.shape == Shape::Map {
            let marker = format!("_{form}_");
            let mut from = 0;
            while let Some(offset) = upper.get(from..).and_then(|tail| tail.find(&marker)) {
                let at = from + offset;
                if at > 0 {
                    let key = &rest[at + marker.len()..];
                    splits.push(Split {
                        name: &rest[..at],
                        setting,
                        key: Some(key),
                    });
                }
                from = at + 1;
            }
        } else if let Some(name_end) = upper.len().checked_sub(form.len() + 1) {
            // Checking the byte keeps the slice below on a character boundary.
            let ends_with_setting =
                upper.ends_with(&form) && upper.as_bytes().get(name_end) == Some(&b'_');
            if name_end > 0 && ends_with_setting {
                splits.push(Split {
                    name: &rest[..name_end],
                    setting,
                    key: None,
                });
            }
        }
    }
    splits
}

/// Returns the process keys that `name` matches: equal ignoring ASCII case,
/// with `_` and `-` counted as the same character.
fn matching_processes<'p>(name: &str, processes: &'p [String]) -> Vec<&'p str> {
    let expected = process_key(name);
    processes
        .iter()
        .filter(|key| process_key(key) == expected)
        .map(String::as_str)
        .collect()
}

/// Turns a name as variables spell it into a process key: `CACHE_WARMUP`
/// becomes `cache-warmup`.
fn process_key(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn unknown_process(rest: &str, processes: &[String]) -> Parsed {
    let bare = PROCESS_SETTINGS
        .iter()
        .any(|setting| env_form(setting.path).eq_ignore_ascii_case(rest));
    if bare {
        return Parsed::Unknown {
            path: "processes",
            message: "the variable names no process".to_owned(),
            hint: format!(
                "put the process name before the setting, like {PROCESS_PREFIX}QUEUE_DEFAULT_{rest}"
            ),
        };
    }
    let hint = suggest_process(rest, processes)
        .map(|name| format!("did you mean `{name}`?"))
        .unwrap_or_else(|| {
            "end the name with a setting such as _ENABLED, _COMMAND or _SCALE, \
             or with _ENV_<NAME> to set an environment variable"
                .to_owned()
        });
    Parsed::Unknown {
        path: "processes",
        message: "no process setting matches the end of the variable name".to_owned(),
        hint,
    }
}

/// Suggests a process variable close to `PHPEEK_PM_PROCESS_<rest>`, trying
/// each `_` as the end of the name. Names the file defines are preferred.
fn suggest_process(rest: &str, processes: &[String]) -> Option<String> {
    let forms: Vec<String> = PROCESS_SETTINGS
        .iter()
        .filter(|setting| setting.shape != Shape::Map)
        .map(|setting| env_form(setting.path))
        .collect();
    let upper = rest.to_ascii_uppercase();

    let mut best: Option<(bool, f64, String)> = None;
    for (index, _) in upper.match_indices('_').filter(|(index, _)| *index > 0) {
        let (name, tail) = (&rest[..index], &upper[index + 1..]);
        let Some((form, score)) = closest(tail, forms.iter().map(String::as_str)) else {
            continue;
        };
        let existing = !matching_processes(name, processes).is_empty();
        let better = best.as_ref().is_none_or(|(best_existing, best_score, _)| {
            (existing, score) > (*best_existing, *best_score)
        });
        if better {
            best = Some((existing, score, format!("{PROCESS_PREFIX}{name}_{form}")));
        }
    }
    best.map(|(_, _, name)| name)
}

fn unknown_global(rest: &str) -> Parsed {
    let forms: Vec<String> = super::settings::GLOBAL_SETTINGS
        .iter()
        .map(|setting| env_form(setting.path))
        .collect();
    let upper = rest.to_ascii_uppercase();
    let hint = match closest(&upper, forms.iter().map(String::as_str)) {
        Some((form, _)) => format!("did you mean `{GLOBAL_PREFIX}{form}`?"),
        None => format!("use a key of the `global` section, like {GLOBAL_PREFIX}LOG_LEVEL"),
    };
    Parsed::Unknown {
        path: "global",
        message: format!("`{rest}` is not a global setting"),
        hint,
    }
}

/// Reports a `PHPEEK_PM_<rest>` name that is neither a short name nor in a section.
fn unknown_name(rest: &str, processes: &[String]) -> Parsed {
    let hint = if global_setting(rest).is_some() {
        Some(format!("did you mean `{GLOBAL_PREFIX}{rest}`?"))
    } else if splits(rest)
        .iter()
        .any(|split| !matching_processes(split.name, processes).is_empty())
    {
        Some(format!("did you mean `{PROCESS_PREFIX}{rest}`?"))
    } else {
        let tails = SHORT_NAMES.iter().map(|(short, _)| &short[PREFIX.len()..]);
        closest(&rest.to_ascii_uppercase(), tails)
            .map(|(tail, _)| format!("did you mean `{PREFIX}{tail}`?"))
    };
    let hint = hint.unwrap_or_else(|| {
        format!("use {GLOBAL_PREFIX}<SETTING> or {PROCESS_PREFIX}<NAME>_<SETTING>, or unset it")
    });
    Parsed::Unknown {
        path: "",
        message: "unknown phpeek-pm variable".to_owned(),
        hint,
    }
}
