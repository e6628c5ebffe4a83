//! Signals sent to phpeek-pm, turned into supervisor events.
//!
//! TERM, INT and QUIT start a graceful shutdown (QUIT is the stop signal of
//! php:fpm-based images). A second TERM or INT during shutdown skips the
//! remaining waits and kills. HUP, USR1 and USR2 are forwarded to every
//! running process group, so `docker kill -s HUP` reaches nginx and php-fpm.

use std::io;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// The signals phpeek-pm handles itself.
const HANDLED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in HANDLED {
        set.add(signal);
    }
    set
}

/// Blocks the handled signals in the calling thread, and in every thread it
/// starts later, so they stay pending until [`start`] installs handlers.
/// Call it first thing in `main`, before any thread exists.
pub(crate) fn hold() {
    if let Err(errno) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None) {
        eprintln!("phpeek-pm: could not block signals during start-up: {errno}");
    }
}

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
    // Signals held back by `hold` are delivered now, to the new handlers.
    // Children don't inherit the mask: std clears it before exec.
    if let Err(errno) = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&handled_set()), None) {
        tracing::warn!(error = %errno, "could not unblock signals");
    }

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
                    // Never wait here: a full queue must not hold up the
                    // handling of TERM behind it.
                    if forward.try_send(other).is_err() {
                        tracing::warn!(
                            signal = other.as_str(),
                            "signal not forwarded: earlier signals are still queued"
                        );
                    }
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
