//! Checks that span processes, and the start order.
//!
//! Each `depends_on` entry must name another enabled process that is not a
//! scheduled task, a longrun can't be awaited to complete, and the
//! dependencies must not form a cycle. The enabled processes are then
//! sorted so that every process comes after the processes it depends on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::fields::Decoder;
use super::model::{Dependency, DependencyCondition, Process, ProcessKind};
use super::node::Origin;
use super::process::{DependencyDraft, ProcessDraft};
use super::report::did_you_mean;

/// A dependency edge between two enabled processes, by index in the drafts.
struct Edge<'d> {
    target: usize,
    draft: &'d DependencyDraft,
}

/// Checks the dependencies and returns the enabled processes in start order.
///
/// The order is topological: dependencies first, and among processes whose
/// dependencies are met, lower `priority` first, then by name. `origin` is
/// where a problem about the whole `processes` section is reported.
pub(crate) fn order_processes(
    decoder: &mut Decoder<'_>,
    drafts: Vec<ProcessDraft>,
    origin: &Origin,
) -> Vec<Process> {
    if !drafts.iter().any(|draft| draft.enabled) {
        report_nothing_enabled(decoder, drafts.is_empty(), origin);
        return Vec::new();
    }

    let (edges, dependencies) = resolve_dependencies(decoder, &drafts);
    report_cycles(decoder, &drafts, &edges);
    let order = start_order(&drafts, &edges);
    // The edges borrow from the drafts, which are taken apart below.
    drop(edges);

    let mut processes: Vec<Option<Process>> = Vec::with_capacity(drafts.len());
    for (draft, dependencies) in drafts.into_iter().zip(dependencies) {
        let mut process = draft.process;
        process.depends_on = dependencies;
        processes.push(draft.enabled.then_some(process));
    }
    order
        .into_iter()
        .filter_map(|index| processes[index].take())
        .collect()
}

fn report_nothing_enabled(decoder: &mut Decoder<'_>, no_processes: bool, origin: &Origin) {
    let (message, hint) = if no_processes {
        (
            "no process is defined",
            "add one under `processes`, with at least a `command`",
        )
    } else {
        (
            "every process is disabled",
            "set `enabled: true` on at least one process",
        )
    };
    decoder
        .error_at(origin, "processes", message)
        .set_hint(hint);
}

/// Checks the `depends_on` entries of the enabled processes. Returns, per
/// process, the edges to valid targets and the resolved dependencies.
fn resolve_dependencies<'d>(
    decoder: &mut Decoder<'_>,
    drafts: &'d [ProcessDraft],
) -> (Vec<Vec<Edge<'d>>>, Vec<Vec<Dependency>>) {
    let index_of: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(index, draft)| (draft.process.name.as_str(), index))
        .collect();
    let mut edges: Vec<Vec<Edge<'d>>> = drafts.iter().map(|_| Vec::new()).collect();
    let mut dependencies: Vec<Vec<Dependency>> = drafts.iter().map(|_| Vec::new()).collect();

    for (index, draft) in drafts.iter().enumerate().filter(|(_, draft)| draft.enabled) {
        for dependency in &draft.dependencies {
            let Some(target) = check_dependency(decoder, drafts, &index_of, draft, dependency)
            else {
                continue;
            };
            if edges[index].iter().any(|edge| edge.target == target) {
                let message = format!("process `{}` is listed twice", dependency.name);
                decoder.error_at(&dependency.origin, &dependency.path, message);
                continue;
            }
            let condition = resolve_condition(decoder, &drafts[target], dependency);
            let name = dependency.name.clone();
            dependencies[index].push(Dependency { name, condition });
            edges[index].push(Edge {
                target,
                draft: dependency,
            });
        }
    }
    (edges, dependencies)
}

/// Returns the index of the process a dependency names, when that is a
/// valid target.
fn check_dependency(
    decoder: &mut Decoder<'_>,
    drafts: &[ProcessDraft],
    index_of: &HashMap<&str, usize>,
    draft: &ProcessDraft,
    dependency: &DependencyDraft,
) -> Option<usize> {
    let name = &dependency.name;
    let (at, path) = (&dependency.origin, &dependency.path);
    if *name == draft.process.name {
        let message = format!("process `{name}` depends on itself");
        decoder
            .error_at(at, path, message)
            .set_hint("remove it from its own depends_on");
        return None;
    }
    let Some(&target) = index_of.get(name.as_str()) else {
        let message = format!("process `{name}` is not defined");
        let names = drafts.iter().map(|other| other.process.name.as_str());
        let hint = did_you_mean(name, names);
        let problem = decoder.error_at(at, path, message);
        if let Some(hint) = hint {
            problem.set_hint(hint);
        }
        return None;
    };
    if !drafts[target].enabled {
        let message = format!("process `{name}` is disabled");
        let hint = format!("enable `{name}`, or remove it from depends_on");
        decoder.error_at(at, path, message).set_hint(hint);
        return None;
    }
    if drafts[target].process.schedule.is_some() {
        let message = format!("process `{name}` is a scheduled task, so nothing can wait for it");
        let hint = format!("remove `{name}` from depends_on");
        decoder.error_at(at, path, message).set_hint(hint);
        return None;
    }
    Some(target)
}

/// Returns the written condition, or the default: `completed_successfully`
/// for a oneshot and `healthy` otherwise.
fn resolve_condition(
    decoder: &mut Decoder<'_>,
    target: &ProcessDraft,
    dependency: &DependencyDraft,
) -> DependencyCondition {
    let default = match target.process.kind {
        ProcessKind::Oneshot => DependencyCondition::CompletedSuccessfully,
        ProcessKind::Longrun => DependencyCondition::Healthy,
    };
    let condition = dependency.condition.unwrap_or(default);
    let never_completes = target.process.kind == ProcessKind::Longrun
        && condition == DependencyCondition::CompletedSuccessfully;
    if never_completes {
        let name = &dependency.name;
        let message = format!("process `{name}` is a longrun, so it never completes successfully");
        let hint = "wait for `healthy` or `started` instead";
        decoder
            .error_at(&dependency.origin, &dependency.path, message)
            .set_hint(hint);
    }
    condition
}

/// Reports every dependency that closes a cycle, as `a -> b -> a`.
///
/// The search is an iterative depth-first walk, so a long chain of
/// dependencies can't overflow the stack.
fn report_cycles(decoder: &mut Decoder<'_>, drafts: &[ProcessDraft], edges: &[Vec<Edge<'_>>]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; drafts.len()];

    for root in 0..drafts.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Each entry is a process on the current path and its next edge to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let Some(edge) = edges[node].get(*next_edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            match marks[edge.target] {
                Mark::New => {
                    marks[edge.target] = Mark::OnPath;
                    path.push((edge.target, 0));
                }
                Mark::OnPath => report_cycle(decoder, drafts, &path, edge),
                Mark::Done => {}
            }
        }
    }
}

fn report_cycle(
    decoder: &mut Decoder<'_>,
    drafts: &[ProcessDraft],
    path: &[(usize, usize)],
    edge: &Edge<'_>,
) {
    let start = path
        .iter()
        .position(|(node, _)| *node == edge.target)
        .unwrap_or(0);
    let mut names: Vec<&str> = Vec::new();
    if let Some((last, _)) = path.last() {
        names.push(&drafts[*last].process.name);
    }
    names.extend(
        path[start..]
            .iter()
            .map(|(node, _)| drafts[*node].process.name.as_str()),
    );

    let message = format!("dependency cycle: {}", names.join(" -> "));
    let hint = "remove one of these dependencies";
    decoder
        .error_at(&edge.draft.origin, &edge.draft.path, message)
        .set_hint(hint);
}

/// Sorts the enabled processes with Kahn's algorithm, taking the ready
/// process with the lowest (priority, name) each time. Processes on a cycle
/// are left out; the cycle has been reported by then.
fn start_order(drafts: &[ProcessDraft], edges: &[Vec<Edge<'_>>]) -> Vec<usize> {
    let mut waiting_on: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = drafts.iter().map(|_| Vec::new()).collect();
    for (index, outgoing) in edges.iter().enumerate() {
        for edge in outgoing {
            dependents[edge.target].push(index);
        }
    }

    let key = |index: usize| {
        Reverse((
            drafts[index].process.priority,
            &drafts[index].process.name,
            index,
        ))
    };
    let mut ready: BinaryHeap<_> = (0..drafts.len())
        .filter(|&index| drafts[index].enabled && waiting_on[index] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(drafts.len());
    while let Some(Reverse((_, _, index))) = ready.pop() {
        order.push(index);
        for &dependent in &dependents[index] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push(key(dependent));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::super::testing::{config, errors, names, only_error, position};
    use super::*;

    #[test]
    fn missing_dependency_suggests_close_name() {
        let yaml = "processes:\n  php-fpm:\n    command: [php-fpm]\n  nginx:\n    \
                    command: [nginx]\n    depends_on: [php-fmp]\n";
        let error = only_error(yaml);

        assert_eq!(error.path, "processes.nginx.depends_on");
        assert_eq!(error.message, "process `php-fmp` is not defined");
        assert_eq!(error.hint.as_deref(), Some("did you mean `php-fpm`?"));
        assert_eq!(position(&error), (Some(6), Some(18)));
        assert_eq!(
            error.to_string(),
            "phpeek-pm.yaml:6:18: processes.nginx.depends_on: process `php-fmp` is not defined \
             (did you mean `php-fpm`?)"
        );
    }

    #[test]
    fn disabled_dependency_says_so() {
        let yaml = "processes:\n  redis:\n    enabled: false\n    command: [redis]\n  \
                    app:\n    command: [app]\n    depends_on:\n      redis: started\n";
        let error = only_error(yaml);

        assert_eq!(error.message, "process `redis` is disabled");
        assert_eq!(position(&error), (Some(8), Some(7)));
    }

    #[test]
    fn self_dependency_is_an_error() {
        let error = only_error("processes:\n  app:\n    command: [app]\n    depends_on: [app]\n");

        assert_eq!(error.message, "process `app` depends on itself");
        assert_eq!(position(&error), (Some(4), Some(18)));
    }

    #[test]
    fn repeated_dependency_is_an_error() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    command: [b]\n    \
                    depends_on: [a, a]\n";
        let error = only_error(yaml);

        assert_eq!(error.message, "process `a` is listed twice");
        assert_eq!(position(&error), (Some(6), Some(21)));
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let yaml = "processes:\n  a:\n    command: [a]\n    depends_on: [b]\n  \
                    b:\n    command: [b]\n    depends_on: [c]\n  \
                    c:\n    command: [c]\n    depends_on: [a]\n";
        let error = only_error(yaml);

        assert_eq!(error.message, "dependency cycle: c -> a -> b -> c");
        assert_eq!(error.path, "processes.c.depends_on");
        assert_eq!(position(&error), (Some(10), Some(18)));
    }

    #[test]
    fn disabled_processes_may_form_cycles() {
        let yaml = "processes:\n  a:\n    command: [a]\n  b:\n    enabled: false\n    \
                    command: [b]\n    depends_on: [b, missing]\n";

        assert_eq!(names(&config(yaml)), ["a"]);
    }

    #[test]
    fn awaiting_completion_of_longrun_is_an_error() {
        let yaml = "processes:\n  web:\n    command: [web]\n  app:\n    command: [app]\n    \
                    depends_on:\n      web: completed_successfully\n";
        let error = only_error(yaml);

        assert_eq!(
            error.message,
            "process `web` is a longrun, so it never completes successfully"
        );
        assert_eq!(position(&error), (Some(7), Some(7)));
    }

    #[test]
    fn oneshot_dependency_defaults_to_completion() {
        let yaml = "processes:\n  migrate:\n    type: oneshot\n    command: [m]\n  \
                    web:\n    command: [web]\n  \
                    app:\n    command: [app]\n    depends_on: [migrate, web]\n";
        let config = config(yaml);
        let app = config
            .processes
            .iter()
            .find(|process| process.name == "app");
        let conditions: Vec<DependencyCondition> = app
            .map(|app| {
                app.depends_on
                    .iter()
                    .map(|dependency| dependency.condition)
                    .collect()
            })
            .unwrap_or_default();

        assert_eq!(
            conditions,
            [
                DependencyCondition::CompletedSuccessfully,
                DependencyCondition::Healthy
            ]
        );
    }

    #[test]
    fn no_enabled_process_is_an_error() {
        let error = only_error("processes:\n  a:\n    enabled: no\n    command: [a]\n");
        assert_eq!(error.message, "every process is disabled");
        assert_eq!(position(&error), (Some(1), Some(1)));

        let error = only_error("global:\n  log_level: info\n");
        assert_eq!(error.message, "no process is defined");
    }

    #[test]
    fn start_order_puts_dependencies_first_then_priority_then_name() {
        let yaml = "processes:\n  \
                    web:\n    command: [x]\n    depends_on: [app]\n  \
                    app:\n    command: [x]\n    priority: 50\n    depends_on: [migrate]\n  \
                    migrate:\n    type: oneshot\n    command: [x]\n    priority: 900\n  \
                    zeta:\n    command: [x]\n    priority: 10\n  \
                    beta:\n    command: [x]\n  \
                    alpha:\n    command: [x]\n";

        assert_eq!(
            names(&config(yaml)),
            ["zeta", "alpha", "beta", "migrate", "app", "web"]
        );
    }

    #[test]
    fn every_dependency_problem_is_reported() {
        let yaml = "processes:\n  a:\n    command: [a]\n    depends_on: [a, nope, b]\n  \
                    b:\n    command: [b]\n    depends_on: [a]\n";
        let messages: Vec<String> = errors(yaml)
            .into_iter()
            .map(|error| error.message)
            .collect();

        assert_eq!(
            messages,
            [
                "process `a` depends on itself",
                "process `nope` is not defined",
                "dependency cycle: b -> a -> b",
            ]
        );
    }
}
