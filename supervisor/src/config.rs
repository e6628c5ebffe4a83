//! Configuration: reading, checking and resolving `phpeek-pm.yaml`.
//!
//! # How loading works
//!
//! 1. The YAML text is parsed into a tree of nodes that remember their line
//!    and column ([`yaml`]). Duplicate keys and a second document are errors.
//! 2. The tree is decoded field by field into the types in [`model`]. Each
//!    scalar is read as the type of its field, after `${VAR}` references in it
//!    are substituted ([`substitute()`]). Unknown keys are errors, and keys
//!    that PHPeek PM 1.x accepts but this version ignores are warnings.
//! 3. Checks that span processes run last: dependencies must name enabled
//!    processes and form no cycle. The enabled processes are sorted in start
//!    order.
//!
//! Every problem found on the way is collected, not only the first, so
//! `phpeek-pm check-config` can list them all.

use std::path::Path;

mod credentials;
mod decode;
mod fields;
mod health;
pub mod model;
mod node;
mod process;
mod report;
mod substitute;
#[cfg(test)]
mod testing;
mod validate;
mod values;
mod yaml;

pub use model::*;
pub use report::{Problem, Report, Severity};
pub use substitute::{substitute, Lookup, ProcessEnv, SubstituteError};

use fields::Decoder;
use node::{Node, Origin};

/// A configuration that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Problems that didn't stop loading, in file order.
    pub warnings: Vec<Problem>,
}

/// Reads and validates the configuration file at `path`, substituting
/// `${VAR}` references from `env`.
///
/// # Errors
///
/// Returns a [`Report`] with every error and warning when the file can't be
/// read or has any error. A failed read is a single problem naming the path
/// and the OS error.
pub fn load_file(path: &Path, env: &impl Lookup) -> Result<Loaded, Report> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        let message = format!("failed to read the configuration file: {error}");
        Report::new(vec![Problem::about_file(&name, message)])
    })?;

    let mut loaded = load(&text, &name, env)?;
    loaded.config.source = Some(path.to_owned());
    Ok(loaded)
}

/// Validates configuration text. `origin_name` names the text in problems,
/// like a file name would.
///
/// # Errors
///
/// Returns a [`Report`] with every error and warning when the text has any
/// error.
pub fn load_str(text: &str, origin_name: &str, env: &impl Lookup) -> Result<Loaded, Report> {
    load(text, origin_name, env)
}

fn load(text: &str, name: &str, env: &dyn Lookup) -> Result<Loaded, Report> {
    let mut decoder = Decoder::new(name, env);
    let config =
        yaml::parse(text, &mut decoder.problems).and_then(|root| decode_root(&mut decoder, &root));

    let problems = decoder.problems;
    match config {
        Some(config) if !problems.has_errors() => {
            let warnings = Report::new(problems.into_vec()).into_problems();
            Ok(Loaded { config, warnings })
        }
        _ => {
            let mut problems = problems.into_vec();
            if problems.is_empty() {
                // Only an empty file gets here: every other failure is recorded.
                let mut empty = Problem::about_file(name, "the configuration is empty");
                empty.set_hint("define at least one process under `processes`");
                problems.push(empty);
            }
            Err(Report::new(problems))
        }
    }
}

fn decode_root(decoder: &mut Decoder<'_>, root: &Node) -> Option<Config> {
    if root.is_null() {
        return None;
    }
    let draft = decode::decode(root, decoder)?;
    let processes_origin = root
        .entries()
        .and_then(|entries| entries.iter().find(|entry| entry.key == "processes"))
        .map_or(Origin::START, |entry| entry.key_origin.clone());
    let processes = validate::order_processes(decoder, draft.processes, &processes_origin);

    Some(Config {
        source: None,
        global: draft.global,
        hooks: draft.hooks,
        processes,
    })
}
