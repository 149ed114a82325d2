//! When a long-running front end (the API server, the Slack bot) should stop.

/// Resolves at the first SIGTERM (systemd stopping the service) or SIGINT (Ctrl-C); never, when
/// the handlers cannot be installed.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
