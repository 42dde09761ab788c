//! Media on a peer connection: encrypted frames sent on the local tracks every 20 ms (audio)
//! and 33 ms (video), and RTP received, counted and put back together into frames.

use super::*;

impl Engine {
    pub(super) async fn send_media(&mut self, session: &mut Session, now: Instant) {
        while session.mic && now >= session.next_audio {
            session.next_audio += AUDIO_EVERY;
            session.audio_seq += 1;
            let frame = media::audio_out(session.cipher.as_ref(), session.audio_seq, &mut self.rng);
            let track = &session.audio;
            if write(track, frame, AUDIO_EVERY).await {
                self.stats().audio_frames_sent += 1;
            }
        }
        if !session.mic {
            session.next_audio = now;
        }
        while session.camera && now >= session.next_video {
            let Some(track) = session.video.as_ref() else {
                break;
            };
            session.next_video += VIDEO_EVERY;
            session.video_seq += 1;
            let protected =
                media::video_out(session.cipher.as_ref(), session.video_seq, &mut self.rng);
            if write(track, protected, VIDEO_EVERY).await {
                self.stats().video_frames_sent += 1;
            }
        }
        if !session.camera {
            session.next_video = now;
        }
    }

    pub(super) fn rtp(&mut self, session: &mut Session, video: bool, packet: &rtc::rtp::Packet) {
        let arrival = Instant::now().duration_since(session.created).as_secs_f64();
        let header = &packet.header;
        {
            let mut stats = self.task.stats.lock();
            stats.packets_received += 1;
            let incoming = if video {
                &mut session.video_in
            } else {
                &mut session.audio_in
            };
            let seq = incoming.stats.extend(header.sequence_number);
            let change = incoming.stats.packet(seq, true);
            stats.packets_lost = add_lost(stats.packets_lost, change);
            if !video {
                // RFC 3550 A.8, in milliseconds: the clock is 48 kHz.
                let first = *incoming.first_timestamp.get_or_insert(header.timestamp);
                let media_ms = f64::from(header.timestamp.wrapping_sub(first)) / 48.0;
                stats.jitter_ms = incoming.stats.transit(arrival * 1000.0 - media_ms);
            }
        }
        if !video {
            self.frame(session, FrameKind::Audio, &packet.payload, false);
            return;
        }
        let mut depacketizer = Vp8Packet::default();
        let head = depacketizer.is_partition_head(&packet.payload);
        let Ok(part) = depacketizer.depacketize(&packet.payload) else {
            return;
        };
        let continues = session.assembly.as_ref().is_some_and(|a| {
            a.timestamp == header.timestamp && a.next_seq == header.sequence_number
        });
        if head && !continues {
            session.assembly = Some(Assembly {
                timestamp: header.timestamp,
                next_seq: header.sequence_number,
                data: Vec::new(),
                whole: true,
            });
        }
        let Some(assembly) = session.assembly.as_mut() else {
            return;
        };
        if assembly.timestamp != header.timestamp || assembly.next_seq != header.sequence_number {
            // A packet of this frame went missing: the frame cannot be played.
            assembly.whole = false;
        }
        assembly.next_seq = header.sequence_number.wrapping_add(1);
        assembly.data.extend_from_slice(&part);
        if header.marker {
            let done = session.assembly.take();
            if let Some(frame) = done.filter(|a| a.whole) {
                let kind = FrameKind::of_video_frame(&frame.data);
                self.frame(session, kind, &frame.data, true);
            }
        }
    }

    pub(super) fn frame(
        &mut self,
        session: &mut Session,
        kind: FrameKind,
        frame: &[u8],
        video: bool,
    ) {
        let mut stats = self.task.stats.lock();
        let receiver = if video {
            &mut session.video_frames
        } else {
            &mut session.audio_frames
        };
        receiver.count(&mut stats, session.cipher.as_ref(), kind, frame, video);
    }
}

pub(super) fn codec(
    mime: &str,
    clock_rate: u32,
    channels: u16,
    payload_type: u8,
) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

/// Writes one frame to a track; whether the stack took it.
pub(super) async fn write(track: &LocalTrack, frame: Vec<u8>, duration: Duration) -> bool {
    let mut sample = Sample::new(Instant::now().into_std());
    sample.data = Bytes::from(frame);
    sample.duration = duration;
    match track
        .track
        .write_sample(track.ssrc, track.payload_type, &sample, &[])
        .await
    {
        Ok(()) => true,
        Err(error) => {
            debug!(%error, "frame not sent");
            false
        }
    }
}
