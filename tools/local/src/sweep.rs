//! The local timer standing in for the EventBridge schedule of the admin-SLA sweep.

use abev::http::AppState;
use std::time::Duration;

pub async fn run_every(state: AppState, every: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                match abev::access::sweep(&state.workflow(), abev::access::now()).await {
                    Ok(n) if n > 0 => tracing::info!(escalated = n, "admin-SLA sweep escalated requests"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "admin-SLA sweep failed"),
                }
            }
        }
    }
}
