//! A call's peer connection: building it (codecs, tracks, the ICE policy), the local description
//! and its candidates, and the figures read from the stack's statistics.

use super::tracks::codec;
use super::*;

impl Engine {
    pub(super) async fn new_session(&mut self, request: &NewSession) -> Option<Session> {
        let (role, media, relay) = (request.role, request.media, request.relay);
        self.sessions += 1;
        let id = self.sessions;
        self.stats().sessions += 1;
        let key = request
            .key
            .filter(|_| self.task.encryption)
            .map(|k| self.task.wrong_key.apply(k));
        let kill = KillSwitch::default();
        let built = self.build(id, role, relay, kill.clone()).await;
        let (pc, [audio, video, _, _]) = match built {
            Ok(parts) => parts,
            Err(error) => {
                self.error(format!(
                    "WebRTC: cannot create the peer connection: {error}"
                ));
                return None;
            }
        };
        let now = Instant::now();
        let sent_before = self.stats().packets_sent;
        Some(Session {
            sent_before,
            next_stats: now + STATS_EVERY,
            client: self.client,
            id,
            pc,
            kill,
            role,
            cipher: key.map(|k| FrameCipher::new(&k, self.task.platform)),
            audio,
            video,
            description: None,
            pending: Vec::new(),
            gathering_complete: false,
            created: now,
            polls: 0,
            next_poll: Some(now + DESCRIBE_POLL),
            trickle_at: None,
            early: Vec::new(),
            remote_set: false,
            checking_since: None,
            state: ConnectionState {
                connection_state: IceConnectionState::New,
                ice_connection_state: IceConnectionState::New,
                ice_gathering_state: IceGatheringState::New,
                signaling_state: SignalingState::Stable,
            },
            connected: false,
            next_audio: now,
            next_video: now,
            audio_seq: 0,
            video_seq: 0,
            mic: true,
            camera: media == CallMediaType::Video,
            audio_in: RtpIn::default(),
            video_in: RtpIn::default(),
            assembly: None,
            audio_frames: media::FrameReceiver::default(),
            video_frames: media::FrameReceiver::default(),
        })
    }

    /// The peer connection and its four senders, in SimpleX's order (mid 0 to 3): the mic, the
    /// camera, the screen's audio and the screen's video (`WebRTCClient.swift`,
    /// `setupLocalTracks`; call.ts `setupLocalStream`). All four are `sendrecv` whatever the
    /// media, so a current client does not take this one for an old version (one with two
    /// transceivers: no camera later in an audio call, no screen sharing). The offerer adds
    /// them as transceivers in that order; the answerer adds them as tracks, which the
    /// offer's m-lines of each kind take in order, and turns every transceiver to `sendrecv`
    /// after the offer is applied, as the apps do.
    pub(super) async fn build(
        &mut self,
        id: u64,
        role: Role,
        relay: bool,
        kill: KillSwitch,
    ) -> Result<(Arc<dyn PeerConnection>, [LocalTrack; 4]), webrtc::error::Error> {
        let opus = codec(MIME_TYPE_OPUS, 48_000, 2, OPUS_PT);
        let vp8 = codec(MIME_TYPE_VP8, 90_000, 0, VP8_PT);
        let mut media_engine = MediaEngine::default();
        media_engine.register_codec(opus.clone(), RtpCodecKind::Audio)?;
        media_engine.register_codec(vp8.clone(), RtpCodecKind::Video)?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
        let policy = if relay {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        };
        // As the apps do, the TURN server is configured whatever the policy; only relay-only
        // calls must use it.
        let ice_servers = self
            .task
            .turn
            .iter()
            .map(|turn| RTCIceServer {
                urls: vec![turn.url()],
                username: turn.username.clone(),
                credential: turn.password.clone(),
            })
            .collect();
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .with_ice_transport_policy(policy)
            .build();
        // mDNS would bind a real multicast socket; candidates carry plain addresses instead.
        // webrtc-rs waits 2 s before it nominates a pair with a relay candidate, in case a
        // better kind succeeds; libwebrtc (the apps' stack) has no such wait, and under the
        // relay-only policy (either side's) there is nothing better to wait for.
        let mut settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_relay_acceptance_min_wait(Some(Duration::ZERO));
        if let Network::Simulated { .. } = self.task.network {
            // What ring would draw from the kernel, drawn from the seed (`crypto`).
            let provider = super::crypto::SeededProvider::new(self.rng.next_u64())
                .map_err(|e| webrtc::error::Error::Other(e.to_string()))?;
            settings = settings.with_crypto_provider(Arc::new(provider));
        }
        let settings = settings.build();
        let handler = Arc::new(Handler {
            session: id,
            tx: self.events.clone(),
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(handler)
            .with_runtime(self.runtime(id, kill, relay && self.task.turn.is_some()))
            .with_udp_addrs(vec![match &self.task.network {
                Network::Bound { ip, ports, .. } => {
                    std::net::SocketAddr::new(*ip, free_port(*ip, *ports)).to_string()
                }
                _ => "127.0.0.1:0".to_owned(),
            }])
            .build()
            .await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let now = Instant::now().into_std();
        let tracks = [
            (RtpCodecKind::Audio, &opus, MIC_CAMERA, "mic"),
            (RtpCodecKind::Video, &vp8, MIC_CAMERA, "camera"),
            (RtpCodecKind::Audio, &opus, SCREEN, "screenAudio"),
            (RtpCodecKind::Video, &vp8, SCREEN, "screenVideo"),
        ];
        let mut local = Vec::with_capacity(4);
        for (kind, codec, stream, label) in tracks {
            let track = self.track(now, kind, codec, stream, label)?;
            match role {
                Role::Offerer => {
                    let init = RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendrecv,
                        streams: vec![stream.to_owned()],
                        send_encodings: track.encodings.clone(),
                    };
                    pc.add_transceiver_from_track(Arc::clone(&track.track) as _, Some(init))
                        .await?;
                }
                Role::Answerer => {
                    pc.add_track(Arc::clone(&track.track) as Arc<dyn TrackLocal>)
                        .await?;
                }
            }
            local.push(track);
        }
        let Ok(local) = <[LocalTrack; 4]>::try_from(local) else {
            unreachable!("four tracks were made");
        };
        Ok((pc, local))
    }

    /// A local track with an SSRC of the engine's seed, not yet on the connection.
    fn track(
        &mut self,
        now: std::time::Instant,
        kind: RtpCodecKind,
        codec: &RTCRtpCodecParameters,
        stream: &str,
        label: &str,
    ) -> Result<LocalTrack, webrtc::error::Error> {
        let ssrc = self.rng.next_u32();
        let encodings = vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.rtp_codec.clone(),
            ..Default::default()
        }];
        let track = Arc::new(TrackLocalStaticSample::new(
            now,
            MediaStreamTrack::new(
                stream.to_owned(),
                format!("{label}-{ssrc:08x}"),
                label.to_owned(),
                kind,
                encodings.clone(),
            ),
        )?);
        Ok(LocalTrack {
            track,
            ssrc,
            payload_type: codec.payload_type,
            encodings,
        })
    }

    /// Reads the session's packets sent and round-trip time from the stack into the run's
    /// counters: every second of a connected call, and when the session closes.
    pub(super) async fn read_stats(&self, session: &Session) {
        let report = session
            .pc
            .get_stats(Instant::now().into_std(), StatsSelector::None)
            .await;
        let mut sent = 0;
        for entry in report.iter() {
            if let RTCStatsReportEntry::OutboundRtp(out) = entry {
                sent += out.sent_rtp_stream_stats.packets_sent;
            }
        }
        self.stats().packets_sent = session.sent_before + sent;
        if let (_, Some(rtt)) = self.pair(session).await {
            self.stats().rtt_ms = Some(rtt);
        }
    }

    /// The selected candidate pair's types and round-trip time.
    pub(super) async fn pair(&self, session: &Session) -> (ConnectionInfo, Option<u64>) {
        let report = session
            .pc
            .get_stats(Instant::now().into_std(), StatsSelector::None)
            .await;
        let mut info = ConnectionInfo::default();
        let mut rtt = None;
        let selected: Vec<&str> = report
            .iter()
            .filter_map(|entry| match entry {
                RTCStatsReportEntry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
                    Some(t.selected_candidate_pair_id.as_str())
                }
                _ => None,
            })
            .collect();
        for entry in report.iter() {
            let RTCStatsReportEntry::IceCandidatePair(pair) = entry else {
                continue;
            };
            let chosen = if selected.is_empty() {
                pair.nominated
            } else {
                selected.contains(&entry.id())
            };
            if !chosen {
                continue;
            }
            // webrtc-rs 0.21 names a pair's candidates "candidate:X" but files their entries
            // under "RTCLocalIceCandidate_candidate:X" (docs/dependency-bugs.md).
            let kind = |id: &str| {
                report.iter().find_map(|entry| match entry {
                    RTCStatsReportEntry::LocalCandidate(c)
                    | RTCStatsReportEntry::RemoteCandidate(c)
                        if entry.id() == id || entry.id().ends_with(&format!("_{id}")) =>
                    {
                        CandidateType::from_name(&c.candidate_type.to_string())
                    }
                    _ => None,
                })
            };
            info.local_candidate = kind(&pair.local_candidate_id);
            info.remote_candidate = kind(&pair.remote_candidate_id);
            if pair.current_round_trip_time > 0.0 {
                rtt = Some((pair.current_round_trip_time * 1000.0).round() as u64);
            }
        }
        (info, rtt)
    }

    pub(super) fn describe(&mut self, session: &mut Session) {
        let Some(sdp) = session.description.take() else {
            return;
        };
        debug!(
            session = session.id,
            candidates = session.pending.len(),
            gathered = session.gathering_complete,
            "local description sent"
        );
        let candidates = lz::encode_candidates(&std::mem::take(&mut session.pending));
        let response = match session.role {
            Role::Offerer => WebRtcResponse::Offer {
                offer: lz::encode_session(&RtcSessionDescription {
                    kind: SdpType::Offer,
                    sdp,
                }),
                ice_candidates: candidates,
                capabilities: CallCapabilities {
                    encryption: self.task.encryption,
                },
            },
            Role::Answerer => WebRtcResponse::Answer {
                answer: lz::encode_session(&RtcSessionDescription {
                    kind: SdpType::Answer,
                    sdp,
                }),
                ice_candidates: candidates,
            },
        };
        self.respond(response);
    }
}

/// Adds lz-string encoded candidates to the peer connection; a bad one is skipped.
pub(super) async fn add_candidates(pc: &Arc<dyn PeerConnection>, text: &str) {
    let Ok(candidates) = lz::decode_candidates(text) else {
        debug!("candidates that do not decode ignored");
        return;
    };
    for candidate in candidates {
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate
                .sdp_m_line_index
                .and_then(|i| u16::try_from(i).ok()),
            username_fragment: candidate.username_fragment,
            url: None,
        };
        if let Err(error) = pc.add_ice_candidate(init).await {
            debug!(%error, "remote candidate refused");
        }
    }
}

/// The first port of `range` free on `ip` now (0, any port, without a range or when none is
/// free: the stack then reports the bind error or picks one).
fn free_port(ip: std::net::IpAddr, range: Option<(u16, u16)>) -> u16 {
    let Some((low, high)) = range else {
        return 0;
    };
    (low..=high)
        .find(|port| std::net::UdpSocket::bind((ip, *port)).is_ok())
        .unwrap_or(low)
}
