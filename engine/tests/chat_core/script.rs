//! §6.2: the `testNegotiateCall` script, and glare.

use crate::*;

#[test]
fn the_test_negotiate_call_script_shows_simplexs_item_texts_at_every_step() {
    let mut p = Pair::new();
    p.alice
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("invites");
    assert_eq!(item_text(&p.alice), "outgoing call: calling...");
    p.deliver(true);
    assert_eq!(item_text(&p.bob), "incoming call: calling...");
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: WebRTCSession {
            rtc_session: "{}".into(),
            rtc_ice_candidates: "[]".into(),
        },
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    assert_eq!(item_text(&p.bob), "incoming call: accepted");
    p.deliver(false);
    assert_eq!(item_text(&p.alice), "outgoing call: accepted");
    p.answer();
    assert_eq!(item_text(&p.alice), "outgoing call: connecting...");
    assert_eq!(item_text(&p.bob), "incoming call: connecting...");
    p.alice
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
        .expect("ok");
    assert_eq!(item_text(&p.alice), "outgoing call: in progress (00:00)");
    p.bob
        .api_call_status(p.now, PEER, WebRTCCallStatus::Connected)
        .expect("ok");
    assert_eq!(item_text(&p.bob), "incoming call: in progress (00:00)");
    p.bob.api_end_call(p.now, &mut p.rng, PEER).expect("ends");
    assert_eq!(item_text(&p.bob), "incoming call: ended (00:00)");
    p.deliver(false);
    assert_eq!(item_text(&p.alice), "outgoing call: ended (00:00)");
    assert_eq!((state(&p.alice), state(&p.bob)), (None, None));
    // Every call left exactly one call item on each side.
    assert_eq!(p.alice.items(PEER).count(), 1);
    assert_eq!(p.bob.items(PEER).count(), 1);
}

#[test]
fn glare_leaves_each_side_with_the_peers_invitation_and_both_old_items_missed() {
    // Spec §2.7 / race 5: both invite at once; each invitation overwrites the receiver's own.
    let mut p = Pair::new();
    p.alice
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("alice");
    p.bob
        .api_send_call_invitation(p.now, &mut p.rng, PEER, video(true))
        .expect("bob");
    let alice_out: Vec<_> = drain(&mut p.alice);
    let bob_out: Vec<_> = drain(&mut p.bob);
    for (to, out) in [(&mut p.bob, alice_out), (&mut p.alice, bob_out)] {
        for o in out {
            if let CoreOutput::Send { message, .. } = o {
                to.handle_message(p.now, &mut p.rng, PEER, p.now, message);
            }
        }
    }
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationReceived));
    assert_eq!(state(&p.bob), Some(CallStateTag::InvitationReceived));
    for side in [&p.alice, &p.bob] {
        let texts: Vec<_> = side.items(PEER).map(|i| i.content.to_string()).collect();
        assert_eq!(
            texts,
            ["outgoing call: missed", "incoming call: calling..."]
        );
    }
    // If Bob now accepts Alice's invitation, his offer carries Alice's call id, while Alice
    // holds Bob's call: the call id check comes before the state check, so that is the error.
    let offer = WebRTCCallOffer {
        call_type: video(true),
        rtc_session: session("offer"),
    };
    p.bob
        .api_send_call_offer(p.now, &mut p.rng, PEER, offer)
        .expect("offers");
    let out = p.deliver(false);
    assert_eq!(
        message_errors(&out),
        ["x.call.offer: wrong contact or callId"]
    );
    assert_eq!(state(&p.alice), Some(CallStateTag::InvitationReceived));
}
