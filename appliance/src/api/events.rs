//! `GET /api/events` (WebSocket): pushes the air-gap status on connect and every few
//! seconds, so the IDE's indicator stays live and notices when the appliance goes away.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::ApiState;
use super::status::measure;

/// How often the status is pushed.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Upgrades the (already guarded and authenticated) request.
pub async fn connect(State(state): State<ApiState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| push_status(socket, state))
}

async fn push_status(mut socket: WebSocket, state: ApiState) {
    let mut ticker = tokio::time::interval(STATUS_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let snapshot = state.clone();
                let Ok(report) = tokio::task::spawn_blocking(move || measure(&snapshot.launch, &snapshot.audit, &snapshot.sandbox)).await else { return };
                let Ok(text) = serde_json::to_string(&serde_json::json!({"type": "status", "status": report})) else { return };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}
