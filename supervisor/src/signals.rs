//! Signals sent to phpeek-pm, turned into supervisor events.
//!
//! TERM, INT and QUIT start a graceful shutdown (QUIT is the stop signal of
//! php:fpm-based images). A second TERM or INT during shutdown skips the
//! remaining waits and kills. HUP, USR1 and USR2 are forwarded to every
//! running process group, so `docker kill -s HUP` reaches nginx and php-fpm.

use std::io;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// Switches that signals flip, observed by every task.
pub(crate) struct Switches {
    /// Set by the first TERM, INT or QUIT.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Set by a second TERM or INT.
    pub(crate) force: watch::Sender<bool>,
}

/// Installs the handlers and starts the task that dispatches them.
///
/// Returns the receiver of signals to forward to the children. Call inside
/// the runtime before any child is spawned, so no signal is missed.
///
/// # Errors
///
/// Fails when a handler cannot be installed.
pub(crate) fn start(switches: Switches) -> io::Result<mpsc::Receiver<Signal>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut user1 = signal(SignalKind::user_defined1())?;
    let mut user2 = signal(SignalKind::user_defined2())?;
    let (forward, forwarded) = mpsc::channel(8);

    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                Some(()) = terminate.recv() => Signal::SIGTERM,
                Some(()) = interrupt.recv() => Signal::SIGINT,
                Some(()) = quit.recv() => Signal::SIGQUIT,
                Some(()) = hangup.recv() => Signal::SIGHUP,
                Some(()) = user1.recv() => Signal::SIGUSR1,
                Some(()) = user2.recv() => Signal::SIGUSR2,
                else => break,
            };
            match received {
                Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                    on_stop_signal(&switches, received);
                }
                other => {
                    // The receiver lives as long as the supervisor loop.
                    let _ = forward.send(other).await;
                }
            }
        }
    });
    Ok(forwarded)
}

fn on_stop_signal(switches: &Switches, signal: Signal) {
    if !*switches.shutdown.borrow() {
        tracing::info!(signal = signal.as_str(), "shutdown requested");
        switches.shutdown.send_replace(true);
    } else if signal != Signal::SIGQUIT && !*switches.force.borrow() {
        tracing::warn!(
            signal = signal.as_str(),
            "second signal during shutdown; killing what is left"
        );
        switches.force.send_replace(true);
    }
}
