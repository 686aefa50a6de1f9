//! Before the first row: one request that proves the base URL, the network path, TLS and the
//! token (see `api::preflight`). It leaves through the run's rate gate, so it is paced and
//! counted like every other request.

use anyhow::anyhow;

use crate::api::{ApiClient, PreflightError};
use crate::exit::Failure;
use crate::output::{self, Level};
use crate::pipeline::{RateGate, StopSignal};

/// `Ok` when the run may start; a misconfiguration stops it at once (exit 3).
pub(super) async fn check_api(
    client: &ApiClient,
    gate: &RateGate,
    stop: &StopSignal,
) -> Result<(), Failure> {
    let Some(departure) = gate.acquire(stop).await else {
        return Err(Failure::stopped(anyhow!(
            "stopped before the first request; nothing was sent"
        )));
    };
    match client.preflight().await {
        Ok(reply) => {
            gate.answered(departure, &reply.limits);
            tracing::debug!(
                base_url = client.base_url(),
                "preflight: the API answers and accepts the token"
            );
            Ok(())
        }
        Err(PreflightError::ServerTrouble(error)) => {
            gate.failed(departure, &error);
            output::say(
                Level::Warn,
                &format!(
                    "bulk-reply: {}; going on, rows are retried",
                    PreflightError::ServerTrouble(error)
                ),
            );
            Ok(())
        }
        Err(misconfigured) => Err(Failure::stopped(anyhow!(
            "{misconfigured}; nothing was sent"
        ))),
    }
}
