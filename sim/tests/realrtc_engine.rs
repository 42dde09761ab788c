//! RealRtc's engine driven command by command on the real network (127.0.0.1): what the peer
//! or the app can send it that is wrong gets SimpleX's error, never a panic or a hang.

use std::sync::{Arc, Mutex};

use callsim_engine::backend::{Inbox, WebRtc};
use callsim_engine::ids::ClientId;
use callsim_engine::io::Input;
use callsim_engine::io::webrtc::{CommandKind, IceConnectionState, WebRtcCommand, WebRtcResponse};
use callsim_engine::protocol::rtc::{RtcSessionDescription, SdpType, encode_session};
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::backends::Shared;
use callsim_sim::rtc::real::{self as realrtc, Network, RealRtcTask};
use callsim_sim::world::RtcStats;

/// The one client of the app in these tests.
const CLIENT: ClientId = 7;

#[derive(Default)]
struct Responses(Mutex<Vec<WebRtcResponse>>);

impl Inbox for Responses {
    fn deliver(&self, _after_ms: u64, input: Input) {
        if let Input::WebRtc { client, response } = input {
            // Every response names the client whose command or connection it is.
            assert_eq!(client, CLIENT, "{response:?}");
            self.0.lock().expect("lock").push(response);
        }
    }
}

impl Responses {
    fn take(&self) -> Vec<WebRtcResponse> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// Lets the engine run until `done` holds, for at most 10 s of tokio's paused clock (it jumps
/// ahead whenever every task waits, so nothing here waits on the wall clock).
async fn until(responses: &Responses, done: impl Fn(&[WebRtcResponse]) -> bool) {
    for _ in 0..1_000 {
        if done(&responses.0.lock().expect("lock")) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never: {:?}", responses.take());
}

fn errors(responses: &[WebRtcResponse]) -> Vec<&str> {
    responses
        .iter()
        .filter_map(|r| match r {
            WebRtcResponse::Error { message } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

fn offer(text: &str) -> WebRtcCommand {
    WebRtcCommand::Offer {
        offer: text.into(),
        ice_candidates: "not candidates".into(),
        media: CallMediaType::Audio,
        aes_key: None,
        relay: false,
    }
}

#[tokio::test(start_paused = true)]
async fn bad_commands_get_simplex_errors_and_a_running_call_is_kept() {
    let responses = Arc::new(Responses::default());
    let (mut rtc, _kill, engine) = realrtc::engine(RealRtcTask {
        name: "Alice".into(),
        seed: 1,
        inbox: responses.clone(),
        stats: Shared::new(RtcStats::default()),
        encryption: true,
        wrong_key: callsim_sim::rtc::WrongKey::default(),
        platform: callsim_engine::crypto::MediaPlatform::Ios,
        network: Network::Loopback,
        turn: None,
    });
    tokio::spawn(engine);
    let now = Timestamp(0);
    let not_sdp = encode_session(&RtcSessionDescription {
        kind: SdpType::Offer,
        sdp: "this is not SDP".into(),
    });
    for (command, error) in [
        (offer("{}"), "offer: bad session description"),
        (offer(&not_sdp), "offer: "),
        (
            WebRtcCommand::Answer {
                answer: "x".into(),
                ice_candidates: "y".into(),
            },
            "answer: call not started",
        ),
        (
            WebRtcCommand::Ice {
                ice_candidates: "z".into(),
            },
            "ice: call not started",
        ),
    ] {
        rtc.execute(now, CLIENT, command);
        until(&responses, |r| !errors(r).is_empty()).await;
        let got = responses.take();
        assert!(errors(&got)[0].starts_with(error), "{got:?}");
    }

    // A call: `start` makes an offer with this engine's candidate.
    rtc.execute(
        now,
        CLIENT,
        WebRtcCommand::Start {
            media: CallMediaType::Audio,
            aes_key: None,
            relay: false,
        },
    );
    until(&responses, |r| {
        r.iter().any(|r| matches!(r, WebRtcResponse::Offer { .. }))
    })
    .await;
    responses.take();
    // The peer's offer while a call runs is refused; the call stays.
    rtc.execute(now, CLIENT, offer(&not_sdp));
    until(&responses, |r| !errors(r).is_empty()).await;
    assert_eq!(errors(&responses.take()), ["accept: call already started"]);
    // A second answer after the first is refused too; garbage answers are an error.
    rtc.execute(
        now,
        CLIENT,
        WebRtcCommand::Answer {
            answer: not_sdp.clone(),
            ice_candidates: String::new(),
        },
    );
    until(&responses, |r| !errors(r).is_empty()).await;
    assert_eq!(
        errors(&responses.take()),
        ["answer: bad session description"]
    );
    // `end`: ok, then the closed connection reports; never `ended` (the iOS client has none).
    rtc.execute(now, CLIENT, WebRtcCommand::End);
    until(&responses, |r| {
        r.iter().any(|r| {
            matches!(r, WebRtcResponse::Connection { state }
                if state.ice_connection_state == IceConnectionState::Closed)
        })
    })
    .await;
    let got = responses.take();
    assert_eq!(
        got[0],
        WebRtcResponse::Ok {
            command: CommandKind::End
        },
        "{got:?}"
    );
    assert!(!got.contains(&WebRtcResponse::Ended), "{got:?}");
}

/// The first response that `is` what is wanted, once one has come; the others are dropped.
async fn first(
    responses: &Responses,
    is: impl Fn(&WebRtcResponse) -> bool + Copy,
) -> WebRtcResponse {
    until(responses, |r| r.iter().any(is)).await;
    let found = responses.take().into_iter().find(is);
    found.expect("`until` saw it")
}

fn engine(name: &str, responses: &Arc<Responses>) -> realrtc::RealRtc {
    let (rtc, _kill, engine) = realrtc::engine(RealRtcTask {
        name: name.into(),
        seed: 2,
        inbox: responses.clone(),
        stats: Shared::new(RtcStats::default()),
        encryption: true,
        wrong_key: callsim_sim::rtc::WrongKey::default(),
        platform: callsim_engine::crypto::MediaPlatform::Ios,
        network: Network::Loopback,
        turn: None,
    });
    tokio::spawn(engine);
    rtc
}

/// Each m-line of an SDP: its kind, mid and direction, and the label its track's id starts
/// with (mic, camera, screenAudio, screenVideo), so the mid of each source is checked too.
fn m_lines(sdp: &str) -> Vec<(String, String, String)> {
    let mut lines = Vec::new();
    for section in sdp.split("\r\nm=").skip(1) {
        let kind = section.split(' ').next().unwrap_or_default().to_owned();
        let attr = |name: &str| {
            section
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .to_owned()
        };
        let direction = ["sendrecv", "sendonly", "recvonly", "inactive"]
            .into_iter()
            .find(|d| section.lines().any(|l| l == format!("a={d}")))
            .unwrap_or("none")
            .to_owned();
        let label = attr("a=msid:")
            .split(' ')
            .nth(1)
            .and_then(|track| track.split('-').next())
            .unwrap_or("no track")
            .to_owned();
        lines.push((kind, attr("a=mid:"), format!("{direction} {label}")));
    }
    lines
}

/// As current SimpleX clients negotiate (`WebRTCClient.swift` `setupLocalTracks` and the
/// `.offer` command; call.ts `setupLocalStream`): four sendrecv transceivers, mic, camera,
/// screen audio and screen video (mids 0 to 3), on audio calls too; the answer keeps all four
/// sendrecv, so neither side takes the other for an old version (`adaptToOldVersion`: two
/// transceivers, or a third one that is only sendonly after the answer).
#[tokio::test(start_paused = true)]
async fn offers_and_answers_carry_the_four_sendrecv_transceivers_of_current_clients() {
    let expected: Vec<(String, String, String)> = [
        ("audio", "0", "mic"),
        ("video", "1", "camera"),
        ("audio", "2", "screenAudio"),
        ("video", "3", "screenVideo"),
    ]
    .into_iter()
    .map(|(kind, mid, source)| {
        (
            kind.to_owned(),
            mid.to_owned(),
            format!("sendrecv {source}"),
        )
    })
    .collect();
    for media in [CallMediaType::Audio, CallMediaType::Video] {
        let (bob_responses, alice_responses) = (
            Arc::new(Responses::default()),
            Arc::new(Responses::default()),
        );
        let (mut bob, mut alice) = (
            engine("Bob", &bob_responses),
            engine("Alice", &alice_responses),
        );
        let now = Timestamp(0);
        bob.execute(
            now,
            CLIENT,
            WebRtcCommand::Start {
                media,
                aes_key: None,
                relay: false,
            },
        );
        let WebRtcResponse::Offer {
            offer,
            ice_candidates,
            ..
        } = first(&bob_responses, |r| {
            matches!(r, WebRtcResponse::Offer { .. })
        })
        .await
        else {
            unreachable!("`first` found an offer");
        };
        let sdp = callsim_engine::protocol::rtc::decode_session(&offer)
            .expect("an offer")
            .sdp;
        assert_eq!(m_lines(&sdp), expected, "{media:?} offer:\n{sdp}");
        alice.execute(
            now,
            CLIENT,
            WebRtcCommand::Offer {
                offer,
                ice_candidates,
                media,
                aes_key: None,
                relay: false,
            },
        );
        let WebRtcResponse::Answer { answer, .. } = first(&alice_responses, |r| {
            matches!(r, WebRtcResponse::Answer { .. })
        })
        .await
        else {
            unreachable!("`first` found an answer");
        };
        let sdp = callsim_engine::protocol::rtc::decode_session(&answer)
            .expect("an answer")
            .sdp;
        assert_eq!(m_lines(&sdp), expected, "{media:?} answer:\n{sdp}");
        for rtc in [&mut alice, &mut bob] {
            rtc.execute(now, CLIENT, WebRtcCommand::End);
        }
    }
}
