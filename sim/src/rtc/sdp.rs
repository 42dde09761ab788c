//! Session descriptions shaped as current SimpleX clients offer and answer them.
//!
//! Both of SimpleX's WebRTC clients create four `sendrecv` transceivers, in this order: the
//! microphone (mid `0`), the camera (`1`, even in an audio call), screen audio (`2`) and screen
//! video (`3`) (`call.ts` `setupLocalStream`, `WebRTCClient.swift` `setupLocalTracks`, SimpleX
//! master 6bb1da9e). A client that sees two or fewer m-lines takes its peer for an old version.
//! The description is what libwebrtc writes for that: one BUNDLE group, ICE credentials, a
//! DTLS fingerprint and setup role, Opus and VP8. Real stacks refuse a description without the
//! fingerprint or the credentials, so a test sets every description built here as the remote
//! description of a webrtc-rs peer connection.

use std::fmt::Write as _;

use callsim_engine::protocol::rtc::SdpType;
use rand_core::RngCore;

/// The transceivers of a SimpleX call, in m-line order: kind and stream id.
const TRANSCEIVERS: [(Kind, &str); 4] = [
    (Kind::Audio, "micCamera"),
    (Kind::Video, "micCamera"),
    (Kind::Audio, "screenAudioVideo"),
    (Kind::Video, "screenAudioVideo"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audio,
    Video,
}

/// What makes one endpoint's description its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpIdentity {
    /// `o=` session id.
    pub session_id: u64,
    /// `a=ice-ufrag` (at least 4 characters, RFC 8839).
    pub ice_ufrag: String,
    /// `a=ice-pwd` (at least 22 characters).
    pub ice_pwd: String,
    /// The SHA-256 fingerprint of the DTLS certificate.
    pub fingerprint: [u8; 32],
    /// SSRCs of the four senders (libwebrtc gives a sender one even before it has a track).
    pub ssrcs: [u32; 4],
}

impl SdpIdentity {
    /// An identity drawn from `rng`, with this ICE username fragment.
    pub fn new(ice_ufrag: &str, rng: &mut impl RngCore) -> Self {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let ice_pwd = (0..24)
            .map(|_| char::from(ALPHABET[(rng.next_u32() % 64) as usize]))
            .collect();
        let mut fingerprint = [0; 32];
        rng.fill_bytes(&mut fingerprint);
        SdpIdentity {
            session_id: rng.next_u64() >> 2,
            ice_ufrag: ice_ufrag.to_owned(),
            ice_pwd,
            fingerprint,
            ssrcs: std::array::from_fn(|_| rng.next_u32() | 1),
        }
    }
}

/// An offer or answer with SimpleX's four transceivers: the offerer's DTLS role is `actpass`,
/// the answerer's `active`, as libwebrtc answers.
pub fn description(kind: SdpType, id: &SdpIdentity) -> String {
    let setup = if kind == SdpType::Offer {
        "actpass"
    } else {
        "active"
    };
    let fingerprint = id
        .fingerprint
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let mut sdp = format!(
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3\r\n\
         a=extmap-allow-mixed\r\na=msid-semantic: WMS micCamera\r\n",
        id.session_id
    );
    for (mid, (kind, stream)) in TRANSCEIVERS.iter().enumerate() {
        let (media, payload) = match kind {
            Kind::Audio => ("audio", 111),
            Kind::Video => ("video", 96),
        };
        let _ = write!(
            sdp,
            "m={media} 9 UDP/TLS/RTP/SAVPF {payload}\r\nc=IN IP4 0.0.0.0\r\n\
             a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n\
             a=ice-options:trickle\r\na=fingerprint:sha-256 {fingerprint}\r\n\
             a=setup:{setup}\r\na=mid:{mid}\r\na=sendrecv\r\na=msid:{stream} {stream}-{mid}\r\n\
             a=rtcp-mux\r\n",
            id.ice_ufrag, id.ice_pwd
        );
        match kind {
            Kind::Audio => sdp.push_str(
                "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n\
                 a=fmtp:111 minptime=10;useinbandfec=1\r\n",
            ),
            Kind::Video => sdp.push_str(
                "a=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\n\
                 a=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n\
                 a=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n",
            ),
        }
        let _ = write!(
            sdp,
            "a=ssrc:{} cname:callsim\r\na=ssrc:{} msid:{stream} {stream}-{mid}\r\n",
            id.ssrcs[mid], id.ssrcs[mid]
        );
    }
    sdp
}

/// The `a=ice-ufrag` of a description.
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn a_description_has_simplexs_four_sendrecv_transceivers_and_dtls() {
        let id = SdpIdentity::new("abcd1234", &mut ChaCha8Rng::seed_from_u64(1));
        let sdp = description(SdpType::Offer, &id);
        let m_lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(m_lines.len(), 4);
        assert!(m_lines[0].starts_with("m=audio") && m_lines[1].starts_with("m=video"));
        assert!(m_lines[2].starts_with("m=audio") && m_lines[3].starts_with("m=video"));
        assert_eq!(sdp.matches("a=sendrecv").count(), 4);
        assert_eq!(sdp.matches("a=fingerprint:sha-256 ").count(), 4);
        assert_eq!(ice_ufrag(&sdp), Some("abcd1234"));
        assert!(id.ice_pwd.len() >= 22);
        assert!(description(SdpType::Answer, &id).contains("a=setup:active"));
    }
}
