//! The engine's `WebRtc` trait for a WebRTC engine that runs as a task of its own (SimRtc under
//! turmoil, RealRtc anywhere): commands go over a channel; if the task is gone, the phone hears
//! that its engine stopped, as a native client reports the end of a connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use callsim_engine::backend::{Inbox, WebRtc};
use callsim_engine::ids::ClientId;
use callsim_engine::io::Input;
use callsim_engine::io::webrtc::{
    ClientCall, ConnectionState, IceConnectionState, WebRtcCommand, WebRtcResponse,
};
use callsim_engine::protocol::Timestamp;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::RtcControl;

/// The backend: hands commands to the engine task.
#[derive(Clone)]
pub struct ChannelRtc {
    tx: mpsc::UnboundedSender<RtcControl>,
    /// The client of the latest command: whom a crash of the engine is reported to.
    last_client: Arc<AtomicU64>,
    inbox: Arc<dyn Inbox>,
}

impl std::fmt::Debug for ChannelRtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelRtc")
    }
}

impl ChannelRtc {
    /// A backend sending to `tx`; `inbox` hears if the engine is gone.
    pub fn new(tx: mpsc::UnboundedSender<RtcControl>, inbox: Arc<dyn Inbox>) -> Self {
        ChannelRtc {
            tx,
            last_client: Arc::new(AtomicU64::new(ClientId::default())),
            inbox,
        }
    }

    /// Tells the client of the latest command that the engine stopped (it crashed).
    pub fn report_crash(&self, message: String) {
        stopped(
            self.inbox.as_ref(),
            self.last_client.load(Ordering::Relaxed),
            message,
        );
    }
}

impl WebRtc for ChannelRtc {
    fn execute(&mut self, _now: Timestamp, client: ClientId, command: WebRtcCommand) {
        self.last_client.store(client, Ordering::Relaxed);
        if self.tx.send(RtcControl::Command(client, command)).is_err() {
            // The engine task is gone: the call cannot go on, so say so.
            warn!("WebRTC command after the engine stopped");
            stopped(
                self.inbox.as_ref(),
                client,
                "WebRTC: the engine stopped".into(),
            );
        }
    }

    fn call(&mut self, _now: Timestamp, client: ClientId, call: ClientCall) {
        if self.tx.send(RtcControl::Call(client, call)).is_err() {
            debug!("WebRTC client call after the engine stopped dropped");
        }
    }
}

/// Tells the phone its WebRTC engine is gone: an error, then its connection failed and closed,
/// as the native client reports the end of a connection.
pub fn stopped(inbox: &dyn Inbox, client: ClientId, message: String) {
    let deliver = |response| inbox.deliver(0, Input::WebRtc { client, response });
    deliver(WebRtcResponse::Error { message });
    for state in [IceConnectionState::Failed, IceConnectionState::Closed] {
        let state = ConnectionState::ice(state);
        deliver(WebRtcResponse::Connection { state });
    }
}
