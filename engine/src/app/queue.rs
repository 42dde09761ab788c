//! `WebRTCCommandProcessor` (`WebRTC.swift`): the FIFO between the app and its WebRTC client.

use std::collections::VecDeque;

use crate::ids::ClientId;
use crate::io::Output;
use crate::io::webrtc::WebRtcCommand;

/// The WebRTC client as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Client {
    /// No client: the call view does not show (`setClient(nil)`).
    #[default]
    None,
    /// The call view's client, with or without a peer connection (`client.activeCall`).
    Ready {
        /// The client.
        id: ClientId,
        /// `start` or `offer` made a peer connection, and nothing ended it yet.
        peer_connection: bool,
    },
}

/// The command queue. Commands run in order while the head may run: `capabilities`, `start`,
/// `offer` and `end` always; the others only once the client has a peer connection, so one of
/// them at the head holds back everything behind it (`shouldRunCommand`). Nothing runs without
/// a client, and dropping the client drops the queue.
#[derive(Debug, Clone, Default)]
pub struct CommandQueue {
    commands: VecDeque<WebRtcCommand>,
    client: Client,
}

impl CommandQueue {
    /// Commands waiting.
    pub fn waiting(&self) -> impl Iterator<Item = &WebRtcCommand> {
        self.commands.iter()
    }

    /// `processCommand`: queues a command and runs what may run.
    pub(crate) fn push(&mut self, command: WebRtcCommand, out: &mut VecDeque<Output>) {
        self.commands.push_back(command);
        self.run(out);
    }

    /// `setClient(client)`: the call view made its client; queued commands run.
    pub(crate) fn set_client(&mut self, id: ClientId, out: &mut VecDeque<Output>) {
        self.client = Client::Ready {
            id,
            peer_connection: false,
        };
        self.run(out);
    }

    /// `setClient(nil)`: the call view went; the queue is dropped.
    pub(crate) fn drop_client(&mut self) {
        self.client = Client::None;
        self.commands.clear();
    }

    /// The client closed its peer connection by itself (ICE failed or disconnected).
    pub(crate) fn peer_connection_closed(&mut self) {
        if let Client::Ready {
            peer_connection, ..
        } = &mut self.client
        {
            *peer_connection = false;
        }
    }

    /// `processAllCommands`.
    fn run(&mut self, out: &mut VecDeque<Output>) {
        let Client::Ready {
            id,
            peer_connection,
        } = &mut self.client
        else {
            return;
        };
        while let Some(next) = self.commands.front() {
            if !(next.runs_without_connection() || *peer_connection) {
                break;
            }
            let Some(next) = self.commands.pop_front() else {
                break;
            };
            match next {
                WebRtcCommand::Start { .. } | WebRtcCommand::Offer { .. } => {
                    *peer_connection = true;
                }
                WebRtcCommand::End => *peer_connection = false,
                _ => {}
            }
            out.push_back(Output::WebRtc {
                client: *id,
                command: next,
            });
        }
    }
}
