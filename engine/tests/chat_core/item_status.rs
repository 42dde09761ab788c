//! §2.5: `callStatusItemContent`.

use crate::*;

#[test]
fn call_status_item_content_follows_every_row_of_the_table() {
    use CICallStatus::*;
    use WebRTCCallStatus::*;
    let statuses = [
        Pending, Missed, Rejected, Accepted, Negotiated, Progress, Ended, Error,
    ];
    // (current, reported) -> expected, written out cell by cell from spec §2.5.
    let expected = |current, reported| match (current, reported) {
        (Progress, Connected) => None,                          // row 1
        (Progress, Disconnected | Failed) => Some((Ended, 42)), // row 2
        (Pending, Disconnected) => Some((Missed, 0)),           // row 3
        (Ended | Error, _) => None,                             // row 4
        (_, Connecting) => Some((Negotiated, 0)),               // row 5
        (_, Connected) => Some((Progress, 0)),                  // row 6
        (_, Disconnected) => Some((Ended, 0)),                  // row 7
        (_, Failed) => Some((Error, 0)),                        // row 8
    };
    let mut cells = 0;
    for current in statuses {
        for reported in [Connecting, Connected, Disconnected, Failed] {
            assert_eq!(
                call_status_item_content(current, reported, 42),
                expected(current, reported),
                "{current:?} + {reported:?}"
            );
            cells += 1;
        }
    }
    assert_eq!(cells, 32);
    // Spot checks that pin the table's order, independent of the closure above.
    assert_eq!(
        call_status_item_content(Pending, Connecting, 9),
        Some((Negotiated, 0))
    );
    assert_eq!(
        call_status_item_content(Missed, Connected, 9),
        Some((Progress, 0))
    );
    assert_eq!(
        call_status_item_content(Rejected, Disconnected, 9),
        Some((Ended, 0))
    );
    assert_eq!(
        call_status_item_content(Progress, Failed, 75),
        Some((Ended, 75))
    );
    assert_eq!(call_status_item_content(Error, Connected, 9), None);
}
