//! `callsim phone` end to end: two phone processes, wired by a TCP socket or by pipes, make
//! complete encrypted calls with the real WebRTC stack on the loopback; a scripted race; and
//! garbage on the input that is reported, never fatal, and leaves the call unharmed. Real
//! network and real time: each call takes a few seconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn events_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn phone(args: &[&str], events: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callsim"));
    command.arg("phone").args(args).args([
        "--events",
        events.to_str().expect("utf-8"),
        "--timeout",
        "40s",
    ]);
    command
}

/// The events of a run, one JSON value per line.
fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("events written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every event is JSON"))
        .collect()
}

fn summary(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "summary")
        .expect("a summary event")
}

fn has_output(events: &[serde_json::Value], kind: &str, what: &str) -> bool {
    events.iter().any(|e| {
        e["type"] == "output" && e["output"]["type"] == kind && e["output"]["value"]["type"] == what
    })
}

fn has_input(events: &[serde_json::Value], kind: &str, what: &str) -> bool {
    events.iter().any(|e| {
        e["type"] == "input" && e["input"]["type"] == kind && e["input"]["value"]["type"] == what
    })
}

/// Bob listens on a free port (learned from his `listening` line), Alice connects.
fn over_socket(alice: &[&str], bob: &[&str], name: &str) -> (i32, i32, PathBuf, PathBuf) {
    let (a_events, b_events) = (
        events_file(&format!("{name}-alice.jsonl")),
        events_file(&format!("{name}-bob.jsonl")),
    );
    let mut bob = phone(
        &[
            &[
                "--name",
                "Bob",
                "--peer",
                "Alice",
                "--listen",
                "127.0.0.1:0",
            ],
            bob,
        ]
        .concat(),
        &b_events,
    )
    .stderr(Stdio::piped())
    .spawn()
    .expect("bob starts");
    // Bob's stderr: the `listening` line, then (with --events) his one-line summary; drained
    // to the end so that he never writes to a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(bob.stderr.take().expect("stderr"));
    let drain = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                && value["type"] == "listening"
            {
                let _ = tx.send(value["address"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let address = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("bob says where he listens");
    let alice = phone(
        &[
            &["--name", "Alice", "--peer", "Bob", "--connect", &address],
            alice,
        ]
        .concat(),
        &a_events,
    )
    .status()
    .expect("alice runs");
    let bob = bob.wait().expect("bob runs");
    let _ = drain.join();
    (
        alice.code().unwrap_or(-1),
        bob.code().unwrap_or(-1),
        a_events,
        b_events,
    )
}

fn assert_media_both_ways(events: &[serde_json::Value], video: bool) {
    let s = summary(events);
    assert_eq!(s["connected"], true, "{s}");
    assert_eq!(s["ended"], true, "{s}");
    let stats = &s["stats"];
    assert!(
        stats["audioFramesReceived"].as_u64().unwrap_or(0) > 20,
        "{stats}"
    );
    assert!(
        stats["framesDecrypted"].as_u64().unwrap_or(0) > 20,
        "{stats}"
    );
    assert_eq!(stats["undecryptableFrames"], 0, "{stats}");
    if video {
        assert!(
            stats["videoFramesReceived"].as_u64().unwrap_or(0) > 5,
            "{stats}"
        );
    }
}

#[test]
fn two_phones_over_a_socket_make_an_audio_and_a_video_call_with_encrypted_media_both_ways() {
    for (media, video) in [("audio", false), ("video", true)] {
        let (a, b, a_events, b_events) = over_socket(
            &["--call", media, "--hang-up-after", "3s"],
            &["--answer", "callkit", "--answer-after", "300ms"],
            &format!("socket-{media}"),
        );
        assert_eq!((a, b), (0, 0), "{media}: exit statuses");
        let (alice, bob) = (events(&a_events), events(&b_events));
        assert_media_both_ways(&alice, video);
        assert_media_both_ways(&bob, video);
        assert!(
            has_input(&bob, "callKit", "performAnswer"),
            "Bob answered on CallKit"
        );
        assert!(has_output(&alice, "callKit", "reportOutgoingConnected"));
        let item =
            |e: &[serde_json::Value]| summary(e)["item"].as_str().unwrap_or_default().to_owned();
        assert!(
            item(&alice).starts_with("outgoing call: ended (00:0"),
            "{}",
            item(&alice)
        );
        assert!(
            item(&bob).starts_with("incoming call: ended (00:0"),
            "{}",
            item(&bob)
        );
    }
}

/// Copies lines from one process to another, putting `extra` lines in first.
fn pipe(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    extra: Vec<Vec<u8>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in extra {
            let _ = to.write_all(&line);
        }
        let _ = std::io::copy(&mut from, &mut to);
    })
}

fn spawn_piped(mut command: Command) -> Child {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a phone starts")
}

/// Wired by pipes, with garbage put into Bob's input first: each bad line is an error event
/// with its line number, a message for an unknown call is refused by the core, and the call
/// still connects and ends as asked.
#[test]
fn two_phones_over_pipes_call_through_garbage_on_the_input() {
    let (a_events, b_events) = (
        events_file("pipes-alice.jsonl"),
        events_file("pipes-bob.jsonl"),
    );
    let mut alice = spawn_piped(phone(
        &[
            "--name",
            "Alice",
            "--peer",
            "Bob",
            "--call",
            "audio",
            "--hang-up-after",
            "3s",
        ],
        &a_events,
    ));
    let mut bob = spawn_piped(phone(&["--name", "Bob", "--peer", "Alice"], &b_events));
    let garbage = vec![
        b"this is not json\n".to_vec(),
        b"{\"v\":\"1-19\",\"event\":\"x.call.inv\",\"params\":{\n".to_vec(),
        [vec![b'['; 3 << 20], b"\n".to_vec()].concat(),
        b"[1, 2, 3]\n".to_vec(),
        b"{\"a\": 1}\n".to_vec(),
        b"{\"v\":\"1-19\",\"msgId\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"event\":\"x.call.end\",\"params\":{\"callId\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}\n".to_vec(),
    ];
    let a_out = pipe(
        alice.stdout.take().expect("out"),
        bob.stdin.take().expect("in"),
        garbage,
    );
    let b_out = pipe(
        bob.stdout.take().expect("out"),
        alice.stdin.take().expect("in"),
        Vec::new(),
    );
    let (a, b) = (alice.wait().expect("alice"), bob.wait().expect("bob"));
    let _ = (a_out.join(), b_out.join());
    assert_eq!((a.code(), b.code()), (Some(0), Some(0)));
    let (alice, bob) = (events(&a_events), events(&b_events));
    assert_media_both_ways(&alice, false);
    assert_media_both_ways(&bob, false);
    let errors: Vec<&serde_json::Value> = bob.iter().filter(|e| e["type"] == "error").collect();
    let lines: Vec<u64> = errors
        .iter()
        .filter_map(|e| e["line"].as_u64())
        .filter(|l| *l > 0)
        .collect();
    assert_eq!(lines, [1, 2, 3, 4], "{errors:?}");
    assert!(
        errors[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than"),
        "{errors:?}"
    );
    assert_eq!(summary(&bob)["badLines"], 4);
    assert!(
        summary(&bob)["refusedMessages"].as_u64().unwrap_or(0) >= 2,
        "the unknown call's end is refused"
    );
}

/// The race the issue names: the callee answers through CallKit just as the caller hangs up.
/// Whichever wins, both phones end idle, and each stream shows its side of it.
#[test]
fn a_callkit_answer_racing_the_callers_hang_up_ends_cleanly_on_both_phones() {
    let (a, b, a_events, b_events) = over_socket(
        &[
            "--call",
            "audio",
            "--hang-up-after",
            "1s",
            "--expect",
            "any",
        ],
        &[
            "--answer",
            "callkit",
            "--answer-after",
            "950ms",
            "--expect",
            "any",
        ],
        "race",
    );
    assert_eq!((a, b), (0, 0), "both phones end idle");
    let (alice, bob) = (events(&a_events), events(&b_events));
    assert!(has_input(&alice, "user", "endCall"), "Alice hung up");
    assert!(
        has_input(&bob, "callKit", "performAnswer"),
        "Bob answered on CallKit"
    );
    for (who, e) in [("Alice", &alice), ("Bob", &bob)] {
        assert_eq!(summary(e)["ended"], true, "{who}");
        assert_eq!(summary(e)["badLines"], 0, "{who}");
    }
    if summary(&bob)["connected"] == true {
        // The answer won: fulfilled on connect, then Alice's hang-up ended the call.
        assert!(
            has_output(&bob, "callKit", "fulfill"),
            "the answer was fulfilled on connect"
        );
    } else {
        // The hang-up won: Bob's phone got the end before connecting. SimpleX leaves the
        // answer action to CallKit's own timeout then (features/timeouts.feature, "A caller
        // who hangs up before the call connects leaves the CallKit answer to CallKit's
        // timeout"); what matters here is that Bob's phone ended.
        let got_end = bob.iter().any(|e| {
            e["type"] == "input"
                && e["input"]["type"] == "message"
                && e["input"]["value"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("x.call.end"))
        });
        assert!(got_end, "Bob received Alice's x.call.end");
    }
}

fn script(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("script written");
    path
}

/// Both phones scripted in the scenario language: every step is done, in order, and the
/// video call connects and ends as the scripts say.
#[test]
fn scripted_phones_follow_their_scenario_steps() {
    let alice = script(
        "alice.script",
        "# Alice calls\nWhen Alice starts a video call to Bob\nThen the call between Alice and Bob connects within 10 seconds\nWhen 2 seconds pass\nAnd Alice ends the call\nThen Alice's call ends within 3 seconds\n",
    );
    let bob = script(
        "bob.script",
        "Then Bob's phone rings within 10 seconds\nWhen 1 second passes\nAnd Bob answers the call through CallKit\nThen the call between Bob and Alice connects within 10 seconds\nThen Bob's call ends within 10 seconds\n",
    );
    let (a, b, a_events, b_events) = over_socket(
        &["--script", alice.to_str().expect("utf-8")],
        &["--script", bob.to_str().expect("utf-8")],
        "script",
    );
    assert_eq!((a, b), (0, 0));
    let steps = |e: &[serde_json::Value]| -> Vec<(u64, String)> {
        e.iter()
            .filter(|e| e["type"] == "step")
            .map(|e| {
                (
                    e["line"].as_u64().unwrap_or(0),
                    e["result"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let done = |lines: &[u64]| {
        lines
            .iter()
            .map(|l| (*l, "done".to_owned()))
            .collect::<Vec<_>>()
    };
    let (alice, bob) = (events(&a_events), events(&b_events));
    assert_eq!(steps(&alice), done(&[2, 3, 4, 5, 6]));
    assert_eq!(steps(&bob), done(&[1, 2, 3, 4, 5]));
    assert_media_both_ways(&alice, true);
    assert_media_both_ways(&bob, true);
}

/// A fault on the caller's own side (its invitation never sent) fails the callee's script
/// step with a clear error and exit status 1; a script line the phone cannot take is a usage
/// error naming the line.
#[test]
fn a_dropped_invitation_fails_the_callees_script_and_bad_script_lines_are_named() {
    let bob = script(
        "bob-rings.script",
        "Then Bob's phone rings within 2 seconds\n",
    );
    let (a, b, a_events, b_events) = over_socket(
        &[
            "--call",
            "audio",
            "--drop",
            "x.call.inv",
            "--hang-up-after",
            "3s",
            "--expect",
            "no-connect",
        ],
        &["--script", bob.to_str().expect("utf-8")],
        "dropped",
    );
    let (alice, bob) = (events(&a_events), events(&b_events));
    assert!(
        alice
            .iter()
            .any(|e| e["type"] == "fault" && e["kind"] == "x.call.inv" && e["fault"] == "dropped")
    );
    assert_eq!(b, 1, "Bob's script failed");
    let why = summary(&bob)["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(why, "script line 1: the phone did not ring within 2 s");
    assert_eq!(a, 0, "Alice's call ended without connecting, as expected");

    let bad = script(
        "bad.script",
        "When Alice starts an audio call to Bob\nWhen Alice dances\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["phone", "--script", bad.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: \"When Alice dances\" is not a step this phone takes"),
        "{err}"
    );
}

/// Loss on each phone's own socket: the call still connects, and each side counts the
/// packets the other lost on the way.
#[test]
fn media_loss_on_each_phones_socket_shows_in_the_peers_statistics() {
    let (a, b, a_events, b_events) = over_socket(
        &[
            "--call",
            "audio",
            "--hang-up-after",
            "3s",
            "--media-loss",
            "20",
        ],
        &["--media-loss", "20"],
        "lossy",
    );
    assert_eq!((a, b), (0, 0));
    for path in [&a_events, &b_events] {
        let e = events(path);
        let stats = &summary(&e)["stats"];
        let lost = stats["packetsLost"].as_u64().unwrap_or(0);
        let (sent, received) = (
            stats["audioFramesSent"].as_u64().unwrap_or(0),
            stats["audioFramesReceived"].as_u64().unwrap_or(0),
        );
        assert!(lost > 0 && received < sent, "{stats}");
        assert_eq!(stats["undecryptableFrames"], 0, "{stats}");
    }
}

/// A hold fault on the caller's own side: the invitation waits until it is released, so the
/// callee rings only after that.
#[test]
fn a_held_invitation_rings_the_callee_only_after_its_release() {
    let bob = script(
        "bob-late.script",
        "Then Bob's phone rings within 10 seconds\nWhen Bob answers the call through CallKit\nThen the call between Bob and Alice connects within 10 seconds\n",
    );
    let (a, b, a_events, b_events) = over_socket(
        &[
            "--call",
            "audio",
            "--hold",
            "x.call.inv",
            "--release-after",
            "2s",
            "--hang-up-after",
            "5s",
            "--ports",
            "51100-51120",
        ],
        &["--script", bob.to_str().expect("utf-8")],
        "held",
    );
    assert_eq!((a, b), (0, 0));
    let alice = events(&a_events);
    assert!(
        alice
            .iter()
            .any(|e| e["type"] == "fault" && e["fault"] == "held")
    );
    assert!(
        alice
            .iter()
            .any(|e| e["type"] == "fault" && e["fault"] == "released 1 held message(s)")
    );
    let bob = events(&b_events);
    let rang = bob
        .iter()
        .find(|e| e["type"] == "step" && e["line"] == 1)
        .and_then(|e| e["t"].as_u64())
        .expect("Bob's phone rang");
    assert!(rang >= 1_500, "Bob rang at {rang} ms, before the release");
    // Alice's media socket took a port of her --ports range: decode what she sent.
    let sent: String = alice
        .iter()
        .filter(|e| e["type"] == "output" && e["output"]["type"] == "send")
        .filter_map(|e| e["output"]["value"]["body"].as_str())
        .filter(|b| b.contains("x.call."))
        .map(|b| format!("{b}\n"))
        .collect();
    let mut decode = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["protocol", "decode"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("decode runs");
    decode
        .stdin
        .take()
        .expect("stdin")
        .write_all(sent.as_bytes())
        .expect("written");
    let decoded =
        String::from_utf8_lossy(&decode.wait_with_output().expect("decoded").stdout).into_owned();
    // Relay-only (the default): her relay candidate's related address is her media socket.
    let port = decoded
        .split("typ relay")
        .nth(1)
        .and_then(|after| after.split("rport ").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("a relay candidate in {decoded}"));
    assert!(
        (51_100..=51_120).contains(&port),
        "media socket on port {port}"
    );
}

/// Options a user types as the README shows them: `--callkit off` parses, a wrong word or an
/// address this host does not have is a usage error (exit 2) before anything runs.
#[test]
fn phone_options_parse_as_documented_and_bad_ones_are_usage_errors() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callsim"))
            .arg("phone")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("runs")
    };
    // No call and no input: the phone gives up at once, as not having done what was asked.
    let off = run(&[
        "--callkit",
        "off",
        "--timeout",
        "1s",
        "--events",
        "/dev/null",
    ]);
    assert_eq!(
        off.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    for (args, says) in [
        (&["--callkit", "maybe"][..], "takes on or off"),
        (&["--bind", "192.0.2.7"][..], "not an address of this host"),
        (&["--ports", "9-3"][..], "LOW-HIGH"),
        (&["--media-loss", "150"][..], "percentage"),
        (&["--delay", "x.call.offer"][..], "KIND:TIME"),
        // TURN: its own server needs an address peers reach; URLs as the apps write them.
        (
            &["--bind", "0.0.0.0"][..],
            "needs an address peers can reach",
        ),
        (
            &["--turn", "turns:example.com:443"][..],
            "TLS is not supported",
        ),
        (
            &["--turn", "turn:127.0.0.1:3478?transport=tcp"][..],
            "only UDP",
        ),
        (&["--turn", "turn:127.0.0.1"][..], "the port is missing"),
        (
            &["--turn", "turn:127.0.0.1:3478?x=1"][..],
            "unknown parameter",
        ),
        (&["--turn", "nonsense"][..], "takes turn:HOST:PORT"),
        (
            &["--direct", "--turn", "turn:127.0.0.1:3478"][..],
            "cannot be used with",
        ),
        (
            &["--direct", "--turn-user", "bob"][..],
            "cannot be used with",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `callsim turn`'s bad options are usage errors naming what is wrong, before it listens.
#[test]
fn turn_options_that_cannot_work_are_usage_errors() {
    for (args, says) in [
        (&["--listen", "0.0.0.0:0"][..], "needs --external-ip"),
        (
            &["--listen", "127.0.0.1:0", "--external-ip", "10.1.2.3"][..],
            "for a wildcard",
        ),
        (
            &["--listen", "0.0.0.0:0", "--external-ip", "0.0.0.0"][..],
            "not a wildcard",
        ),
        (&["--listen", "192.0.2.7:3478"][..], "cannot listen on"),
        (
            &["--listen", "127.0.0.1:0", "--user", ""][..],
            "must not be empty",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_callsim"))
            .arg("turn")
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// The candidate pair a phone's WebRTC client reported when the call connected.
fn pair(events: &[serde_json::Value]) -> (String, String) {
    let connected = events
        .iter()
        .find(|e| {
            e["type"] == "input"
                && e["input"]["type"] == "webRtc"
                && e["input"]["value"]["response"]["type"] == "connected"
        })
        .expect("a connected response");
    let info = &connected["input"]["value"]["response"]["connectionInfo"];
    let kind = |key: &str| info[key].as_str().unwrap_or("none").to_owned();
    (kind("localCandidate"), kind("remoteCandidate"))
}

/// The `turn` event: the server's URL and whether the phone started it.
fn turn_event(events: &[serde_json::Value]) -> Option<(String, bool)> {
    events.iter().find(|e| e["type"] == "turn").map(|e| {
        (
            e["url"].as_str().unwrap_or_default().to_owned(),
            e["started"] == true,
        )
    })
}

/// SimpleX's default relay-only policy with a `callsim turn` server between the phones:
/// both relay through it (`WebRTCClient.swift`, `createPeerConnection`).
#[test]
fn relay_only_phones_call_through_a_callsim_turn_server() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_callsim"))
        .args(["turn", "--listen", "127.0.0.1:0", "--stop-after", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the TURN server starts");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("its first line");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("turn:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let (a, b, a_events, b_events) = over_socket(
        &["--call", "audio", "--hang-up-after", "3s", "--turn", &url],
        &["--answer-after", "300ms", "--turn", &url],
        "turn-server",
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!((a, b), (0, 0), "exit statuses");
    for events in [events(&a_events), events(&b_events)] {
        assert_media_both_ways(&events, false);
        assert_eq!(turn_event(&events), Some((url.clone(), false)));
        assert_eq!(pair(&events), ("relay".into(), "relay".into()));
    }
}

/// Without --turn a relay-only phone relays through a server of its own; --direct goes peer
/// to peer and starts none.
#[test]
fn a_phone_relays_through_its_own_turn_server_unless_direct() {
    let (a, b, a_events, b_events) = over_socket(
        &["--call", "audio", "--hang-up-after", "2s"],
        &["--direct"],
        "own-turn",
    );
    assert_eq!((a, b), (0, 0), "exit statuses");
    let (alice, bob) = (events(&a_events), events(&b_events));
    let (url, started) = turn_event(&alice).expect("Alice's TURN server");
    assert!(url.starts_with("turn:127.0.0.1:") && started, "{url}");
    assert_eq!(turn_event(&bob), None, "a direct phone uses no TURN server");
    // Alice relays; Bob, allowed to go direct, reaches her relayed address from his host one.
    assert_eq!(pair(&alice), ("relay".into(), "host".into()));
    assert_eq!(pair(&bob), ("host".into(), "relay".into()));
}
