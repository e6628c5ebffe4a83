//! Lifecycle hooks: commands run before and after start and stop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::config::Hook;
use crate::exec::{self, ExecContext, Outcome};
use crate::output::{OutputHandle, Source};
use crate::reaper::Reaper;

/// The point in the lifecycle a hook belongs to; also its log label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before any process starts.
    PreStart,
    /// After every process started.
    PostStart,
    /// When shutdown begins.
    PreStop,
    /// After every process stopped.
    PostStop,
    /// Before one process is signalled to stop.
    ProcessPreStop,
}

impl Stage {
    /// Returns the name used in logs and in the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::PreStart => "pre-start",
            Stage::PostStart => "post-start",
            Stage::PreStop => "pre-stop",
            Stage::PostStop => "post-stop",
            Stage::ProcessPreStop => "pre_stop_hook",
        }
    }
}

/// A hook failed after all its attempts.
#[derive(Debug, thiserror::Error)]
#[error("hook `{name}` ({stage}) failed after {attempts} attempt(s): {reason}")]
pub(crate) struct HookError {
    /// Hook name.
    pub(crate) name: String,
    /// Lifecycle stage.
    pub(crate) stage: &'static str,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Reason the last attempt failed.
    pub(crate) reason: String,
}

/// How many runs of one hook at one stage ended with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRunCount {
    /// Hook name.
    pub hook: String,
    /// Lifecycle stage, as in the config file: `pre-start`, `post-stop`,
    /// `pre_stop_hook` and so on.
    pub stage: &'static str,
    /// True for runs that succeeded, false for runs that failed after all
    /// attempts, including those ignored by `continue_on_error`.
    pub success: bool,
    /// Number of such runs since phpeek-pm started.
    pub count: u64,
}

/// Counts of finished hook runs, shared by every clone of a runner.
#[derive(Debug, Default)]
pub(crate) struct HookRuns {
    counts: Mutex<BTreeMap<(String, &'static str, bool), u64>>,
}

impl HookRuns {
    fn record(&self, hook: &str, stage: Stage, success: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts
            .entry((hook.to_owned(), stage.as_str(), success))
            .or_insert(0) += 1;
    }

    /// Returns every count, ordered by hook, stage and outcome.
    pub(crate) fn snapshot(&self) -> Vec<HookRunCount> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|((hook, stage, success), count)| HookRunCount {
                hook: hook.clone(),
                stage,
                success: *success,
                count: *count,
            })
            .collect()
    }
}

/// Runs hooks; shared by the supervisor and every process.
#[derive(Clone)]
pub(crate) struct HookRunner {
    reaper: Reaper,
    output: OutputHandle,
    runs: Arc<HookRuns>,
}

impl HookRunner {
    /// Creates a runner whose hooks are reaped by `reaper` and logged to `output`.
    pub(crate) fn new(reaper: Reaper, output: OutputHandle) -> HookRunner {
        HookRunner {
            reaper,
            output,
            runs: Arc::default(),
        }
    }

    /// Returns the counts of finished runs, shared with this runner.
    pub(crate) fn runs(&self) -> Arc<HookRuns> {
        Arc::clone(&self.runs)
    }

    /// Runs `hooks` one after another; stops at the first failure that
    /// isn't `continue_on_error`.
    ///
    /// # Errors
    ///
    /// Returns the first hook that failed after its retries.
    pub(crate) async fn run_all(
        &self,
        hooks: &[Hook],
        stage: Stage,
        cancel: &watch::Receiver<bool>,
    ) -> Result<(), HookError> {
        for hook in hooks {
            self.run(hook, stage, None, cancel.clone()).await?;
        }
        Ok(())
    }

    /// Runs one hook with its timeout and retries. `process` names the
    /// process a per-process hook belongs to.
    ///
    /// # Errors
    ///
    /// Fails when every attempt failed and `continue_on_error` is false. A
    /// cancelled hook fails without further attempts.
    pub(crate) async fn run(
        &self,
        hook: &Hook,
        stage: Stage,
        process: Option<&str>,
        cancel: watch::Receiver<bool>,
    ) -> Result<(), HookError> {
        let context = ExecContext {
            reaper: self.reaper.clone(),
            env: hook_env(hook, stage),
            working_dir: hook.working_dir.clone(),
            user: hook.user.clone(),
        };
        let source = Source::new(process.unwrap_or(&hook.name), hook.name.as_str())
            .with_field("hook", stage.as_str());
        let attempts = hook.retry.saturating_add(1);
        let mut reason = String::new();

        for attempt in 1..=attempts {
            tracing::info!(hook = %hook.name, stage = stage.as_str(), attempt, "hook started");
            let outcome = exec::run_logged(
                &context,
                &hook.command,
                &self.output,
                source.clone(),
                hook.timeout,
                cancel.clone(),
            )
            .await;
            let cancelled = matches!(outcome, Outcome::Cancelled);
            match outcome.into_result() {
                Ok(()) => {
                    tracing::info!(hook = %hook.name, stage = stage.as_str(), "hook finished");
                    self.runs.record(&hook.name, stage, true);
                    return Ok(());
                }
                Err(why) => reason = why,
            }
            tracing::warn!(hook = %hook.name, stage = stage.as_str(), attempt, reason = %reason,
                "hook failed");
            if cancelled || attempt == attempts {
                break;
            }
            let mut cancel_wait = cancel.clone();
            let cancelled_during_delay = tokio::select! {
                () = tokio::time::sleep(hook.retry_delay) => false,
                Ok(_) = cancel_wait.wait_for(|cancelled| *cancelled) => true,
            };
            if cancelled_during_delay {
                reason = "cancelled by shutdown".to_owned();
                break;
            }
        }

        self.runs.record(&hook.name, stage, false);
        if hook.continue_on_error {
            tracing::warn!(hook = %hook.name, stage = stage.as_str(),
                "hook failure ignored because continue_on_error is set");
            return Ok(());
        }
        Err(HookError {
            name: hook.name.clone(),
            stage: stage.as_str(),
            attempts,
            reason,
        })
    }
}

fn hook_env(hook: &Hook, stage: Stage) -> Vec<(String, String)> {
    let mut env = hook.env.clone();
    env.push(("PHPEEK_PM_HOOK_NAME".to_owned(), hook.name.clone()));
    env.push(("PHPEEK_PM_HOOK_STAGE".to_owned(), stage.as_str().to_owned()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_counted_by_hook_stage_and_outcome() {
        let runs = HookRuns::default();
        runs.record("migrate", Stage::PreStart, true);
        runs.record("migrate", Stage::PreStart, true);
        runs.record("migrate", Stage::PreStart, false);
        runs.record("notify", Stage::PostStop, false);

        let counts: Vec<_> = runs
            .snapshot()
            .into_iter()
            .map(|run| (run.hook, run.stage, run.success, run.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("migrate".to_owned(), "pre-start", false, 1),
                ("migrate".to_owned(), "pre-start", true, 2),
                ("notify".to_owned(), "post-stop", false, 1),
            ]
        );
    }
}
