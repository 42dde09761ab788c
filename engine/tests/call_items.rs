//! Call chat item texts, as SimpleX's `ciContentToText` writes them.

use callsim_engine::protocol::{CICallStatus, CallItem, MsgDirection};

fn text(direction: MsgDirection, status: CICallStatus, duration: u32) -> String {
    CallItem::new(direction, status, duration).to_string()
}

#[test]
fn every_status_has_simplexs_text() {
    use CICallStatus::*;
    use MsgDirection::*;
    assert_eq!(text(Snd, Pending, 0), "outgoing call: calling...");
    assert_eq!(text(Rcv, Missed, 0), "incoming call: missed");
    assert_eq!(text(Rcv, Rejected, 0), "incoming call: rejected");
    assert_eq!(text(Snd, Accepted, 0), "outgoing call: accepted");
    assert_eq!(text(Rcv, Negotiated, 0), "incoming call: connecting...");
    assert_eq!(text(Snd, Progress, 0), "outgoing call: in progress (00:00)");
    assert_eq!(text(Snd, Ended, 30), "outgoing call: ended (00:30)");
    assert_eq!(text(Rcv, Error, 12), "incoming call: error");
}

#[test]
fn durations_pad_to_two_digits_and_never_wrap_into_hours() {
    use CICallStatus::Ended;
    use MsgDirection::Rcv;
    assert_eq!(text(Rcv, Ended, 9), "incoming call: ended (00:09)");
    assert_eq!(text(Rcv, Ended, 10), "incoming call: ended (00:10)");
    assert_eq!(text(Rcv, Ended, 599), "incoming call: ended (09:59)");
    assert_eq!(text(Rcv, Ended, 4500), "incoming call: ended (75:00)");
    assert_eq!(
        text(Rcv, Ended, 6000 * 60),
        "incoming call: ended (6000:00)"
    );
}

#[test]
fn statuses_serialize_without_their_prefix() {
    let all = serde_json::to_string(&[
        CICallStatus::Pending,
        CICallStatus::Missed,
        CICallStatus::Rejected,
        CICallStatus::Accepted,
        CICallStatus::Negotiated,
        CICallStatus::Progress,
        CICallStatus::Ended,
        CICallStatus::Error,
    ])
    .expect("serializes");
    assert_eq!(
        all,
        r#"["pending","missed","rejected","accepted","negotiated","progress","ended","error"]"#
    );
}
