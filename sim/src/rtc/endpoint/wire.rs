//! SimRtc's packets on the wire: a kind byte and the session token, then STUN-shaped binding
//! checks, DTLS-shaped flights or an encrypted media frame.

use super::*;

/// A relayed candidate at the TURN server's allocated address.
pub(super) fn relay_candidate(address: SocketAddr) -> RtcIceCandidate {
    RtcIceCandidate {
        candidate_type: None,
        protocol: None,
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        candidate: format!(
            "candidate:2 1 udp 41885439 {} {} typ relay raddr 0.0.0.0 rport 0",
            address.ip(),
            address.port()
        ),
        username_fragment: None,
    }
}

pub(super) fn header(kind: u8, token: &str) -> Vec<u8> {
    header_with_room(kind, token, 0)
}

/// A header in a buffer with room for `body` more bytes and for the TURN send prefix that
/// `Endpoint::send` may put in front (one allocation per packet).
fn header_with_room(kind: u8, token: &str, body: usize) -> Vec<u8> {
    let mut packet = Vec::with_capacity(2 + token.len() + body + 8);
    packet.push(kind);
    packet.push(u8::try_from(token.len()).unwrap_or(0));
    packet.extend_from_slice(token.as_bytes());
    packet
}

/// A packet's kind, session token (its bytes: compared, never read as text) and body.
pub(super) fn parse_header(packet: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&kind, rest) = packet.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (token, body) = rest.split_at_checked(usize::from(len))?;
    Some((kind, token, body))
}

pub(super) fn bind_packet(kind: u8, token: &str, now: Timestamp) -> Vec<u8> {
    let mut packet = header(kind, token);
    packet.extend_from_slice(&now.0.to_be_bytes());
    packet
}

pub(super) fn dtls_packet(token: &str, flight: u8) -> Vec<u8> {
    let mut packet = header(DTLS, token);
    packet.push(flight);
    // DTLS flights are large; the certificate flights the largest.
    packet.resize(packet.len() + if flight == 2 { 700 } else { 200 }, 0);
    packet
}

pub(super) fn media_packet(
    token: &str,
    kind: u8,
    seq: u32,
    index: u8,
    count: u8,
    sent: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = header_with_room(MEDIA, token, 15 + payload.len());
    packet.push(kind);
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.push(index);
    packet.push(count);
    packet.extend_from_slice(&sent.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// The `a=ice-ufrag` of an lz-string session description.
pub(super) fn ice_ufrag(session: &str) -> Option<String> {
    let description = rtc::decode_session(session).ok()?;
    crate::rtc::sdp::ice_ufrag(&description.sdp).map(str::to_owned)
}
