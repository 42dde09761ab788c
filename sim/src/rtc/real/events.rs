//! What the stack reports about a peer connection (candidates, state changes, RTP), turned
//! into the engine's responses.

use super::*;

impl Engine {
    pub(super) async fn event(&mut self, id: u64, event: Event) {
        if self.session.as_ref().is_none_or(|s| s.id != id) {
            // An earlier call's connection, closed or abandoned: the live one stays.
            return;
        }
        let Some(mut session) = self.session.take() else {
            return;
        };
        self.client = session.client;
        match event {
            Event::Candidate(candidate) => {
                if let Some(candidate) = self.to_wire(candidate) {
                    session.pending.push(candidate);
                }
            }
            Event::Gathering(state) => {
                session.gathering_complete = state == RTCIceGatheringState::Complete;
                session.state.ice_gathering_state = gathering_state(state);
            }
            Event::Signaling(state) => session.state.signaling_state = signaling_state(state),
            Event::Ice(state) => {
                debug!(session = session.id, %state, "ICE connection state");
                // The native client reports ICE states only, in both fields.
                let ice = ice_state(state);
                session.state.connection_state = ice;
                session.state.ice_connection_state = ice;
                self.respond(WebRtcResponse::Connection {
                    state: session.state,
                });
                if matches!(
                    ice,
                    IceConnectionState::Disconnected | IceConnectionState::Failed
                ) {
                    // SimpleX ends the call at once: no ICE restart.
                    if session.connected {
                        self.stats().disconnected += 1;
                    } else {
                        self.stats().failed += 1;
                    }
                    self.session = Some(session);
                    self.close_reporting().await;
                    return;
                }
            }
            Event::Peer(state) => {
                // The native client has no peer connection state callback; the state starts
                // media (DTLS is up) and fails a connection that ICE did not.
                debug!(session = session.id, %state, "peer connection state");
                match state {
                    RTCPeerConnectionState::Connected if !session.connected => {
                        session.connected = true;
                        let now = Instant::now();
                        session.next_audio = now;
                        session.next_video = now;
                        self.stats().connected += 1;
                        let (info, rtt) = self.pair(&session).await;
                        if rtt.is_some() {
                            self.stats().rtt_ms = rtt;
                        }
                        self.respond(WebRtcResponse::Connected {
                            connection_info: info,
                        });
                    }
                    RTCPeerConnectionState::Failed => {
                        self.stats().failed += 1;
                        self.session = Some(session);
                        self.end(IceConnectionState::Failed, None).await;
                        return;
                    }
                    _ => {}
                }
            }
            Event::Rtp { video, packet } => self.rtp(&mut session, video, &packet),
            Event::DriverExited => {
                warn!("the WebRTC driver stopped without reporting a failure");
                self.stats().failed += 1;
                self.session = Some(session);
                self.end(
                    IceConnectionState::Failed,
                    Some("WebRTC: the connection's driver stopped".into()),
                )
                .await;
                return;
            }
        }
        self.session = Some(session);
    }

    /// A local candidate as the peer must see it: in a world, the stack's real loopback
    /// address replaced by the simulated one it stands for.
    pub(super) fn to_wire(&self, mut candidate: RTCIceCandidate) -> Option<RtcIceCandidate> {
        if let Network::Simulated { .. } = self.task.network {
            let real = SocketAddr::new(candidate.address.parse().ok()?, candidate.port);
            match self.addresses.simulated(real) {
                Some(simulated) => {
                    candidate.address = simulated.ip().to_string();
                    candidate.port = simulated.port();
                }
                // A relayed address is the TURN server's, already on the simulated network;
                // a host address of a socket the stack did not wrap is a real interface's.
                None if candidate.typ == RTCIceCandidateType::Relay => {}
                None => return None,
            }
            // A relay candidate's related address is the local socket's: its real port would
            // put the operating system's choice on the wire.
            let related = candidate
                .related_address
                .parse()
                .ok()
                .map(|ip| SocketAddr::new(ip, candidate.related_port))
                .and_then(|real| self.addresses.simulated(real));
            if let Some(simulated) = related {
                candidate.related_address = simulated.ip().to_string();
                candidate.related_port = simulated.port();
            }
        }
        let typ = candidate.typ.to_string();
        let init = candidate.to_json().ok()?;
        Some(RtcIceCandidate {
            candidate_type: Some(typ),
            protocol: None,
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            candidate: init.candidate,
            username_fragment: None,
        })
    }
}

/// The native client's name of an ICE connection state.
pub(super) fn ice_state(state: RTCIceConnectionState) -> IceConnectionState {
    match state {
        RTCIceConnectionState::Checking => IceConnectionState::Checking,
        RTCIceConnectionState::Connected => IceConnectionState::Connected,
        RTCIceConnectionState::Completed => IceConnectionState::Completed,
        RTCIceConnectionState::Disconnected => IceConnectionState::Disconnected,
        RTCIceConnectionState::Failed => IceConnectionState::Failed,
        RTCIceConnectionState::Closed => IceConnectionState::Closed,
        _ => IceConnectionState::New,
    }
}

pub(super) fn gathering_state(state: RTCIceGatheringState) -> IceGatheringState {
    match state {
        RTCIceGatheringState::Gathering => IceGatheringState::Gathering,
        RTCIceGatheringState::Complete => IceGatheringState::Complete,
        _ => IceGatheringState::New,
    }
}

pub(super) fn signaling_state(state: RTCSignalingState) -> SignalingState {
    match state {
        RTCSignalingState::HaveLocalOffer => SignalingState::HaveLocalOffer,
        RTCSignalingState::HaveRemoteOffer => SignalingState::HaveRemoteOffer,
        RTCSignalingState::Closed => SignalingState::Closed,
        _ => SignalingState::Stable,
    }
}
