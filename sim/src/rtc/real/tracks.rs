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
            let track = &session.video;
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
        match take_frame(&mut session.assembly, video, header, &packet.payload) {
            Some(Frame::Audio(data)) => self.frame(session, FrameKind::Audio, data, false),
            Some(Frame::Video(data)) => {
                let kind = FrameKind::of_video_frame(&data);
                self.frame(session, kind, &data, true);
            }
            None => {}
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

/// A frame a received packet completes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame<'a> {
    /// An audio frame: one packet each.
    Audio(&'a [u8]),
    /// A video frame put together from its VP8 packets, all there.
    Video(Vec<u8>),
}

/// What one received RTP packet gives, given the video frame being put together. A packet
/// that carries no frame (padding only, RFC 3550 §5.1, which Chromium sends to probe the
/// bandwidth) gives nothing and breaks no frame: libwebrtc's receivers skip it too.
pub(super) fn take_frame<'a>(
    assembly: &mut Option<Assembly>,
    video: bool,
    header: &rtc::rtp::header::Header,
    payload: &'a Bytes,
) -> Option<Frame<'a>> {
    if payload.is_empty() {
        if let Some(a) = assembly
            .as_mut()
            .filter(|a| a.next_seq == header.sequence_number)
        {
            a.next_seq = a.next_seq.wrapping_add(1);
        }
        return None;
    }
    if !video {
        return Some(Frame::Audio(payload));
    }
    let mut depacketizer = Vp8Packet::default();
    let head = depacketizer.is_partition_head(payload);
    let part = depacketizer.depacketize(payload).ok()?;
    let continues = assembly
        .as_ref()
        .is_some_and(|a| a.timestamp == header.timestamp && a.next_seq == header.sequence_number);
    if head && !continues {
        *assembly = Some(Assembly {
            timestamp: header.timestamp,
            next_seq: header.sequence_number,
            data: Vec::new(),
            whole: true,
        });
    }
    let a = assembly.as_mut()?;
    if a.timestamp != header.timestamp || a.next_seq != header.sequence_number {
        // A packet of this frame went missing: the frame cannot be played.
        a.whole = false;
    }
    a.next_seq = header.sequence_number.wrapping_add(1);
    a.data.extend_from_slice(&part);
    if !header.marker {
        return None;
    }
    assembly
        .take()
        .filter(|a| a.whole)
        .map(|a| Frame::Video(a.data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::header::Header;

    fn header(seq: u16, timestamp: u32, marker: bool) -> Header {
        Header {
            sequence_number: seq,
            timestamp,
            marker,
            ..Header::default()
        }
    }

    /// A VP8 packet: the payload descriptor (S bit on the first) and data.
    fn vp8(first: bool, data: &[u8]) -> Bytes {
        let mut payload = vec![if first { 0x10 } else { 0x00 }];
        payload.extend_from_slice(data);
        Bytes::from(payload)
    }

    #[test]
    fn a_padding_only_packet_gives_no_frame_and_breaks_none() {
        let empty = Bytes::new();
        let mut assembly = None;
        // Audio: nothing to decrypt, so nothing counted as undecryptable.
        assert_eq!(
            take_frame(&mut assembly, false, &header(1, 0, false), &empty),
            None
        );
        // Video: padding between two frames, and inside one.
        let (a, b, c) = (vp8(true, b"abcd"), vp8(false, b"efgh"), vp8(true, b"ijkl"));
        assert_eq!(
            take_frame(&mut assembly, true, &header(10, 90, false), &a),
            None
        );
        assert_eq!(
            take_frame(&mut assembly, true, &header(11, 90, false), &empty),
            None
        );
        assert_eq!(
            take_frame(&mut assembly, true, &header(12, 90, true), &b),
            Some(Frame::Video(b"abcdefgh".to_vec()))
        );
        assert_eq!(
            take_frame(&mut assembly, true, &header(13, 180, false), &empty),
            None
        );
        assert_eq!(
            take_frame(&mut assembly, true, &header(14, 180, true), &c),
            Some(Frame::Video(b"ijkl".to_vec()))
        );
    }

    #[test]
    fn a_video_frame_missing_a_packet_is_never_played() {
        let mut assembly = None;
        let (a, c) = (vp8(true, b"abcd"), vp8(false, b"ijkl"));
        assert_eq!(
            take_frame(&mut assembly, true, &header(20, 90, false), &a),
            None
        );
        // Packet 21 was lost.
        assert_eq!(
            take_frame(&mut assembly, true, &header(22, 90, true), &c),
            None
        );
        // Whole, the same frame plays.
        assert_eq!(
            take_frame(&mut assembly, true, &header(30, 180, false), &a),
            None
        );
        assert_eq!(
            take_frame(&mut assembly, true, &header(31, 180, true), &c),
            Some(Frame::Video(b"abcdijkl".to_vec()))
        );
        let audio = Bytes::from_static(b"opus");
        assert_eq!(
            take_frame(&mut assembly, false, &header(1, 0, false), &audio),
            Some(Frame::Audio(b"opus"))
        );
    }
}
