//! Stop order: dependents first, then higher priority first.

use std::collections::HashMap;

use crate::config::Process;

/// Splits `processes` into stop waves. Processes in one wave stop
/// concurrently; a wave starts once the previous one has stopped.
///
/// A process's level is 0 when nothing depends on it and otherwise one more
/// than the highest level of its dependents, so every process stops after
/// the processes that depend on it. Within a level, higher `priority` values
/// stop first, mirroring the start order, and equal priorities share a wave.
pub(crate) fn stop_waves(processes: &[Process]) -> Vec<Vec<String>> {
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for process in processes {
        for dependency in &process.depends_on {
            dependents
                .entry(dependency.name.as_str())
                .or_default()
                .push(&process.name);
        }
    }
    let mut levels: HashMap<&str, usize> = HashMap::new();
    for process in processes {
        level_of(&process.name, &dependents, &mut levels, 0);
    }

    let mut keyed: Vec<(usize, i32, &str)> = processes
        .iter()
        .map(|process| {
            (
                levels[process.name.as_str()],
                process.priority,
                process.name.as_str(),
            )
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));

    let mut waves: Vec<Vec<String>> = Vec::new();
    let mut current_key = None;
    for (level, priority, name) in keyed {
        if current_key != Some((level, priority)) {
            waves.push(Vec::new());
            current_key = Some((level, priority));
        }
        if let Some(wave) = waves.last_mut() {
            wave.push(name.to_owned());
        }
    }
    waves
}

/// Computes the level of `name` with memoisation. Validation already
/// rejected cycles; `depth` guards against one anyway.
fn level_of<'a>(
    name: &'a str,
    dependents: &HashMap<&'a str, Vec<&'a str>>,
    levels: &mut HashMap<&'a str, usize>,
    depth: usize,
) -> usize {
    if let Some(level) = levels.get(name) {
        return *level;
    }
    let level = match dependents.get(name) {
        Some(children) if depth < 1024 => children
            .iter()
            .map(|child| 1 + level_of(child, dependents, levels, depth + 1))
            .max()
            .unwrap_or(0),
        _ => 0,
    };
    levels.insert(name, level);
    level
}
