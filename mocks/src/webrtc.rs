//! A scripted WebRTC: answers the app's commands as iOS's native client does, after set delays.
//!
//! [`ScriptedRtcNetwork`] is a sans-IO model of every phone's WebRTC engine at once: the callee's
//! offer carries a session token that the caller's answer echoes, and the two ends connect when
//! both have the other's description. It speaks as `WebRTCClient.swift` does: `connection`
//! responses carry ICE states, `answer`, `ice`, `media` and `end` are answered with `ok`, and a
//! connection that fails or loses its peer is closed by the client itself, which reports
//! `closed` (it never sends `ended`). It returns what to deliver and when ([`RtcAction`]); its
//! host (the in-memory world, or [`crate::backends::ScriptedWebRtc`] under a driver) moves time.

use std::collections::{BTreeMap, BTreeSet};

use callsim_engine::crypto::MediaKey;
use callsim_engine::ids::ClientId;
use callsim_engine::io::webrtc::{
    CandidateType, ClientCall, CommandKind, ConnectionInfo, ConnectionState, IceConnectionState,
    WebRtcCommand, WebRtcResponse,
};
use callsim_engine::protocol::CallCapabilities;

/// An engine's index in the network (one per phone).
pub type EndpointId = usize;

/// Timing of the scripted engines, in milliseconds.
#[derive(Debug, Clone)]
pub struct RtcTiming {
    /// Time to answer `capabilities`.
    pub capabilities: u64,
    /// Time to gather the first candidates and produce an offer or answer.
    pub gather: u64,
    /// One batch of trickled candidates this long after `start` or `offer`, if set; less than
    /// `gather` makes candidates race ahead of the offer or answer (spec race 3).
    pub trickle: Option<u64>,
    /// ICE checks and the DTLS handshake, once both ends have each other's description.
    pub connect: u64,
    /// A connected peer that vanished is seen disconnected after this long.
    pub disconnect: u64,
    /// A connection that cannot be made fails after this long (`iceInactiveTimeout`).
    pub fail: u64,
}

impl Default for RtcTiming {
    /// A good network with 20 ms one-way media latency.
    fn default() -> Self {
        RtcTiming {
            capabilities: 5,
            gather: 100,
            trickle: Some(1_600),
            connect: 80,
            disconnect: 5_000,
            fail: 30_000,
        }
    }
}

/// A timer of the network itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcEvent {
    /// Both ends of this session may start connecting.
    Connect(String),
    /// The session's checks and handshake succeeded.
    Connected(String),
    /// The peer of this endpoint's session vanished.
    PeerGone(EndpointId, String),
    /// The session could not connect in time.
    Fail(String),
    /// A connected session's media path has been blocked for `disconnect`: ICE consent checks
    /// go unanswered and the ends see `disconnected`.
    Stall(String),
    /// A connected session's media path has been blocked for `fail`: the ends see `failed`.
    Lost(String),
}

/// What the network asks its host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcAction {
    /// Deliver a response to an endpoint's phone after a delay.
    Respond {
        /// The endpoint.
        to: EndpointId,
        /// The client that answers.
        client: ClientId,
        /// Delay in milliseconds.
        after_ms: u64,
        /// The response.
        response: WebRtcResponse,
    },
    /// Call [`ScriptedRtcNetwork::event`] with this event after a delay.
    Wake {
        /// Delay in milliseconds.
        after_ms: u64,
        /// The event.
        event: RtcEvent,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Offerer,
    Answerer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PcState {
    New,
    Connecting,
    Connected,
}

#[derive(Debug, Clone)]
struct PeerConnection {
    /// The client that made it.
    client: ClientId,
    token: String,
    role: Role,
    key: Option<MediaKey>,
    has_remote: bool,
    state: PcState,
}

#[derive(Debug, Clone)]
struct Endpoint {
    encryption: bool,
    pc: Option<PeerConnection>,
    sessions: u64,
}

/// Every phone's scripted WebRTC engine.
#[derive(Debug, Clone, Default)]
pub struct ScriptedRtcNetwork {
    timing: RtcTiming,
    endpoints: BTreeMap<EndpointId, Endpoint>,
    /// Pairs of endpoints (lower first) whose media path drops everything.
    blocked: BTreeSet<(EndpointId, EndpointId)>,
}

impl ScriptedRtcNetwork {
    /// A network with these timings and no endpoints.
    pub fn new(timing: RtcTiming) -> Self {
        ScriptedRtcNetwork {
            timing,
            endpoints: BTreeMap::new(),
            blocked: BTreeSet::new(),
        }
    }

    /// Whether an endpoint's engine supports frame encryption (default yes).
    pub fn set_encryption_support(&mut self, id: EndpointId, supported: bool) {
        self.endpoint(id).encryption = supported;
    }

    /// Blocks or unblocks media between two endpoints: their new sessions fail after `fail`;
    /// a session connected between them sees `disconnected` after `disconnect` and `failed`
    /// after `fail` (as SimRtc's consent checks do), unless unblocked first, when it sees
    /// `connected` again.
    pub fn set_blocked(&mut self, a: EndpointId, b: EndpointId, blocked: bool) -> Vec<RtcAction> {
        let pair = (a.min(b), a.max(b));
        let changed = if blocked {
            self.blocked.insert(pair)
        } else {
            self.blocked.remove(&pair)
        };
        let Some(token) = self.connected_session(a, b).filter(|_| changed) else {
            return Vec::new();
        };
        if blocked {
            vec![
                RtcAction::Wake {
                    after_ms: self.timing.disconnect,
                    event: RtcEvent::Stall(token.clone()),
                },
                RtcAction::Wake {
                    after_ms: self.timing.fail,
                    event: RtcEvent::Lost(token),
                },
            ]
        } else {
            self.ends(&token)
                .into_iter()
                .filter_map(|id| self.pc(id).map(|pc| (id, pc.client)))
                .map(|(id, client)| connection(id, client, 0, IceConnectionState::Connected))
                .collect()
        }
    }

    /// The token of a connected session between `a` and `b`.
    fn connected_session(&self, a: EndpointId, b: EndpointId) -> Option<String> {
        let (pa, pb) = (self.pc(a)?, self.pc(b)?);
        let live = pa.state == PcState::Connected && pb.state == PcState::Connected;
        (live && pa.token == pb.token).then(|| pa.token.clone())
    }

    /// Whether the ends of a session are still blocked from each other.
    fn session_blocked(&self, token: &str) -> bool {
        let ends = self.ends(token);
        ends.len() == 2
            && self
                .blocked
                .contains(&(ends[0].min(ends[1]), ends[0].max(ends[1])))
    }

    /// Whether two endpoints hold peer connections with the same media key.
    pub fn same_media_key(&self, a: EndpointId, b: EndpointId) -> bool {
        let key = |id| self.endpoints.get(&id)?.pc.as_ref()?.key;
        key(a).is_some() && key(a) == key(b)
    }

    /// Whether an endpoint's peer connection is connected.
    pub fn connected(&self, id: EndpointId) -> bool {
        self.endpoints
            .get(&id)
            .and_then(|e| e.pc.as_ref())
            .is_some_and(|pc| pc.state == PcState::Connected)
    }

    fn endpoint(&mut self, id: EndpointId) -> &mut Endpoint {
        self.endpoints.entry(id).or_insert(Endpoint {
            encryption: true,
            pc: None,
            sessions: 0,
        })
    }

    /// A command from an endpoint's phone to one of its clients.
    pub fn command(
        &mut self,
        id: EndpointId,
        client: ClientId,
        command: WebRtcCommand,
    ) -> Vec<RtcAction> {
        let t = self.timing.clone();
        let endpoint = self.endpoint(id);
        let capabilities = CallCapabilities {
            encryption: endpoint.encryption,
        };
        let mut actions = Vec::new();
        let respond = |after_ms, response| RtcAction::Respond {
            to: id,
            client,
            after_ms,
            response,
        };
        match command {
            WebRtcCommand::Capabilities { .. } => {
                actions.push(respond(
                    t.capabilities,
                    WebRtcResponse::Capabilities { capabilities },
                ));
            }
            WebRtcCommand::Start { aes_key, .. } => {
                endpoint.sessions += 1;
                let token = format!("{id}.{}", endpoint.sessions);
                endpoint.pc = Some(PeerConnection {
                    client,
                    token: token.clone(),
                    role: Role::Offerer,
                    key: aes_key.filter(|_| capabilities.encryption),
                    has_remote: false,
                    state: PcState::New,
                });
                actions.push(respond(
                    t.gather,
                    WebRtcResponse::Offer {
                        offer: format!("offer {token}"),
                        ice_candidates: format!("host {id}"),
                        capabilities,
                    },
                ));
                actions.extend(trickle(id, client, &t));
            }
            WebRtcCommand::Offer { offer, aes_key, .. } => {
                let Some(token) = offer.strip_prefix("offer ") else {
                    actions.push(respond(
                        0,
                        WebRtcResponse::Error {
                            message: "offer: bad session description".into(),
                        },
                    ));
                    return actions;
                };
                endpoint.pc = Some(PeerConnection {
                    client,
                    token: token.to_owned(),
                    role: Role::Answerer,
                    key: aes_key.filter(|_| capabilities.encryption),
                    has_remote: true,
                    state: PcState::New,
                });
                actions.push(respond(
                    t.gather,
                    WebRtcResponse::Answer {
                        answer: format!("answer {token}"),
                        ice_candidates: format!("host {id}"),
                    },
                ));
                actions.extend(trickle(id, client, &t));
            }
            WebRtcCommand::Answer { answer, .. } => match endpoint.pc.as_mut() {
                Some(pc) if pc.role == Role::Offerer => {
                    if answer.strip_prefix("answer ") == Some(pc.token.as_str()) {
                        pc.has_remote = true;
                        let event = RtcEvent::Connect(pc.token.clone());
                        actions.push(respond(0, ok(CommandKind::Answer)));
                        actions.push(RtcAction::Wake { after_ms: 0, event });
                    }
                }
                _ => actions.push(respond(
                    0,
                    WebRtcResponse::Error {
                        message: "answer: call not started".into(),
                    },
                )),
            },
            WebRtcCommand::Ice { .. } => actions.push(respond(0, ok(CommandKind::Ice))),
            WebRtcCommand::Media { .. } => actions.push(respond(0, ok(CommandKind::Media))),
            WebRtcCommand::Camera { .. } => {}
            WebRtcCommand::End => {
                // `ok` first, then the client closes its connection, which reports `closed`.
                actions.push(respond(0, ok(CommandKind::End)));
                actions.extend(self.close(id));
            }
        }
        actions
    }

    /// A direct call on an endpoint's client; only `endCall` does anything here: it closes the
    /// peer connection that client made.
    pub fn client_call(
        &mut self,
        id: EndpointId,
        client: ClientId,
        call: ClientCall,
    ) -> Vec<RtcAction> {
        let mine = self.pc(id).is_some_and(|pc| pc.client == client);
        match call {
            ClientCall::EndCall if mine => self.close(id),
            _ => Vec::new(),
        }
    }

    /// The client closes its peer connection: `closed` to its phone, and the peer loses it.
    fn close(&mut self, id: EndpointId) -> Vec<RtcAction> {
        let Some(pc) = self.endpoint(id).pc.take() else {
            return Vec::new();
        };
        let mut actions = vec![connection(id, pc.client, 0, IceConnectionState::Closed)];
        if pc.state == PcState::Connected {
            actions.extend(self.peer_gone(id, &pc.token));
        }
        actions
    }

    /// A timer of the network fired.
    pub fn event(&mut self, event: RtcEvent) -> Vec<RtcAction> {
        let mut actions = Vec::new();
        match event {
            RtcEvent::Connect(token) => {
                let ends = self.ends(&token);
                let ready = ends.len() == 2
                    && ends.iter().all(|id| {
                        self.pc(*id)
                            .is_some_and(|pc| pc.has_remote && pc.state == PcState::New)
                    });
                if !ready {
                    return actions;
                }
                for &id in &ends {
                    if let Some(pc) = self.pc_mut(id) {
                        pc.state = PcState::Connecting;
                        actions.push(connection(id, pc.client, 0, IceConnectionState::Checking));
                    }
                }
                let blocked = self
                    .blocked
                    .contains(&(ends[0].min(ends[1]), ends[0].max(ends[1])));
                let (after_ms, event) = if blocked {
                    (self.timing.fail, RtcEvent::Fail(token))
                } else {
                    (self.timing.connect, RtcEvent::Connected(token))
                };
                actions.push(RtcAction::Wake { after_ms, event });
            }
            RtcEvent::Connected(token) => {
                for id in self.ends(&token) {
                    if let Some(pc) = self.pc_mut(id).filter(|pc| pc.state == PcState::Connecting) {
                        pc.state = PcState::Connected;
                        let client = pc.client;
                        actions.push(connection(id, client, 0, IceConnectionState::Connected));
                        actions.push(RtcAction::Respond {
                            to: id,
                            client,
                            after_ms: 0,
                            response: WebRtcResponse::Connected {
                                connection_info: ConnectionInfo {
                                    local_candidate: Some(CandidateType::Host),
                                    remote_candidate: Some(CandidateType::Host),
                                },
                            },
                        });
                    }
                }
            }
            RtcEvent::PeerGone(id, token) => {
                if let Some(pc) = self.pc(id).filter(|pc| pc.token == token) {
                    // `disconnected`, then the client ends its call at once: `closed`.
                    let client = pc.client;
                    self.endpoint(id).pc = None;
                    actions.push(connection(id, client, 0, IceConnectionState::Disconnected));
                    actions.push(connection(id, client, 0, IceConnectionState::Closed));
                }
            }
            RtcEvent::Stall(token) if self.session_blocked(&token) => {
                for id in self.ends(&token) {
                    if let Some(pc) = self.pc(id).filter(|pc| pc.state == PcState::Connected) {
                        let client = pc.client;
                        actions.push(connection(id, client, 0, IceConnectionState::Disconnected));
                    }
                }
            }
            RtcEvent::Lost(token) if self.session_blocked(&token) => {
                for id in self.ends(&token) {
                    if let Some(pc) = self.pc(id).filter(|pc| pc.state == PcState::Connected) {
                        let client = pc.client;
                        self.endpoint(id).pc = None;
                        actions.push(connection(id, client, 0, IceConnectionState::Failed));
                        actions.push(connection(id, client, 0, IceConnectionState::Closed));
                    }
                }
            }
            RtcEvent::Stall(_) | RtcEvent::Lost(_) => {}
            RtcEvent::Fail(token) => {
                for id in self.ends(&token) {
                    if let Some(pc) = self.pc(id).filter(|pc| pc.state != PcState::Connected) {
                        let client = pc.client;
                        self.endpoint(id).pc = None;
                        actions.push(connection(id, client, 0, IceConnectionState::Failed));
                        actions.push(connection(id, client, 0, IceConnectionState::Closed));
                    }
                }
            }
        }
        actions
    }

    /// The endpoint's connection fails now; its peer sees it vanish.
    pub fn fail(&mut self, id: EndpointId) -> Vec<RtcAction> {
        let Some(pc) = self.endpoint(id).pc.take() else {
            return Vec::new();
        };
        let mut actions = vec![
            connection(id, pc.client, 0, IceConnectionState::Failed),
            connection(id, pc.client, 0, IceConnectionState::Closed),
        ];
        actions.extend(self.peer_gone(id, &pc.token));
        actions
    }

    /// The endpoint's process died: its connection vanishes without a word.
    pub fn drop_endpoint(&mut self, id: EndpointId) -> Vec<RtcAction> {
        match self.endpoint(id).pc.take() {
            Some(pc) => self.peer_gone(id, &pc.token),
            None => Vec::new(),
        }
    }

    fn peer_gone(&self, id: EndpointId, token: &str) -> Vec<RtcAction> {
        self.ends(token)
            .into_iter()
            .filter(|peer| *peer != id)
            .map(|peer| RtcAction::Wake {
                after_ms: self.timing.disconnect,
                event: RtcEvent::PeerGone(peer, token.to_owned()),
            })
            .collect()
    }

    fn ends(&self, token: &str) -> Vec<EndpointId> {
        self.endpoints
            .iter()
            .filter(|(_, e)| e.pc.as_ref().is_some_and(|pc| pc.token == token))
            .map(|(id, _)| *id)
            .collect()
    }

    fn pc(&self, id: EndpointId) -> Option<&PeerConnection> {
        self.endpoints.get(&id)?.pc.as_ref()
    }

    fn pc_mut(&mut self, id: EndpointId) -> Option<&mut PeerConnection> {
        self.endpoints.get_mut(&id)?.pc.as_mut()
    }
}

fn trickle(id: EndpointId, client: ClientId, t: &RtcTiming) -> Option<RtcAction> {
    t.trickle.map(|after_ms| RtcAction::Respond {
        to: id,
        client,
        after_ms,
        response: WebRtcResponse::Ice {
            ice_candidates: format!("srflx {id}"),
        },
    })
}

fn connection(
    to: EndpointId,
    client: ClientId,
    after_ms: u64,
    state: IceConnectionState,
) -> RtcAction {
    RtcAction::Respond {
        to,
        client,
        after_ms,
        response: WebRtcResponse::Connection {
            state: ConnectionState::ice(state),
        },
    }
}

fn ok(command: CommandKind) -> WebRtcResponse {
    WebRtcResponse::Ok { command }
}
