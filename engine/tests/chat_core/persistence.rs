//! §2.2: what survives a restart.

use crate::*;

#[test]
fn only_received_invitations_survive_a_restart() {
    let mut p = Pair::new();
    p.invite(video(true));
    let before = p.bob.api_get_call_invitations();
    p.bob.restart();
    assert_eq!(
        p.bob.api_get_call_invitations(),
        before,
        "the invitation survives"
    );
    p.alice.restart();
    assert_eq!(state(&p.alice), None, "the outgoing call is lost");
    assert_eq!(
        item_text(&p.alice),
        "outgoing call: calling...",
        "items survive, unchanged"
    );
}

#[test]
fn a_restart_drops_a_negotiation_on_either_side() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.offer(video(true));
    p.bob.restart();
    assert_eq!(state(&p.bob), None, "offerSent is memory only");
    p.alice
        .api_send_call_answer(p.now, &mut p.rng, PEER, session("answer"))
        .expect("answers");
    let out = p.deliver(true);
    assert_eq!(message_errors(&out), ["x.call.answer: no current call"]);
}

#[test]
fn the_offer_after_a_caller_restart_is_a_message_error() {
    let mut p = Pair::new();
    p.invite(video(true));
    p.alice.restart();
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    assert_eq!(message_errors(&out), ["x.call.offer: no current call"]);
}
