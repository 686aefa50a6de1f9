//! The signals that mean "stop" — Ctrl-C, SIGTERM (what cron and systemd send) and SIGHUP (a
//! closed terminal) — turned into requests on a [`StopSignal`]: the first graceful, the next
//! immediate. The engine never installs a handler; the commands that run it call this.

use tokio::task::JoinHandle;

use crate::output::{self, Level};
use crate::pipeline::{StopLevel, StopSignal};

/// Listens from now until the returned task is aborted. `None` (with a warning) when the
/// signals cannot be registered: Ctrl-C then ends the process abruptly.
pub(crate) fn stop_on_signals(stop: &StopSignal) -> Option<JoinHandle<()>> {
    // Registered here, before any request can leave, not later in the task.
    let Ok(mut signals) = Signals::install() else {
        tracing::warn!("cannot listen for signals; Ctrl-C will end the run abruptly");
        return None;
    };
    let stop = stop.clone();
    Some(tokio::spawn(async move {
        let mut presses = 0;
        while signals.next().await {
            presses += 1;
            if presses == 1 {
                output::say(
                    Level::Warn,
                    "bulk-reply: stopping: no new requests; waiting for those in flight (send the signal again to stop at once)",
                );
                stop.request(StopLevel::Graceful, "interrupted");
            } else {
                output::say(Level::Warn, "bulk-reply: stopping at once");
                stop.request(StopLevel::Immediate, "interrupted");
            }
        }
    }))
}

/// The signals that mean "stop", all registered at once (a signal that arrives before the
/// first wait is kept, not lost to the default handler): `send`, `tickets` and `sandbox`
/// stop on the same ones.
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next one; `false` if no more can come.
    pub(crate) async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            tokio::select! {
                r = self.interrupt.recv() => r.is_some(),
                r = self.terminate.recv() => r.is_some(),
                r = self.hangup.recv() => r.is_some(),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.is_ok()
    }
}
