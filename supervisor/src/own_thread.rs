//! Running blocking work off the runtime's one thread without tokio's
//! blocking pool.
//!
//! tokio panics when its blocking pool has no thread and the OS rejects a
//! new one, as happens at a container's pids limit. phpeek-pm is PID 1, so
//! work such as a host name lookup or a metrics scrape runs on a thread
//! started here instead, or on the calling thread when none can start.

use std::sync::Arc;

/// Runs `work` on a new thread named `name` and awaits its result. When no
/// thread can start, `work` runs on the calling thread, and the error from
/// the failed start is returned beside the result.
pub(crate) async fn run<T, F>(name: &str, work: F) -> (T, Option<std::io::Error>)
where
    T: Send + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn({
        let work = Arc::clone(&work);
        move || {
            let _ = sender.send(work());
        }
    });
    match spawned {
        Ok(_) => match receiver.await {
            Ok(result) => (result, None),
            // The thread ended without a result, so run the work here.
            Err(_) => (work(), None),
        },
        Err(error) => (work(), Some(error)),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_on_a_named_thread() {
        let (name, error) = super::run("phpeek-test", || {
            std::thread::current().name().map(str::to_owned)
        })
        .await;

        assert_eq!(name.as_deref(), Some("phpeek-test"));
        assert!(error.is_none());
    }
}
