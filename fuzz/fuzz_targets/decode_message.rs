//! Any bytes into the call message decoder: it must never panic, and whatever it accepts must
//! re-encode to a message that decodes to the same value, in wire and in readable form.
#![no_main]

use callsim_engine::protocol::{ChatMessage, readable, rtc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rtc::decode_json(text);
    }
    let Ok(msg) = ChatMessage::from_json(data) else {
        return;
    };
    // Re-encoding drops unknown fields and may shorten, never lengthen, what was accepted.
    let json = msg.to_json().expect("a decoded message re-encodes");
    assert_eq!(ChatMessage::from_json(json.as_bytes()).as_ref(), Ok(&msg));
    let view = readable::to_readable(&msg).expect("readable");
    let _ = readable::from_readable(view);
});
