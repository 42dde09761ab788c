@real-webrtc
Feature: Calls through the real WebRTC stack (webrtc-rs 0.21) under the simulated network
  The phones run webrtc-rs instead of SimRtc: real ICE, DTLS-SRTP and RTP over simulated UDP,
  with every audio and video frame encrypted in SimpleX's layout, relay-only through a real
  TURN server unless a phone allows direct calls. Runs repeat byte for byte by seed, like the
  SimRtc ones: what webrtc-rs draws from the operating system comes from the scenario's seed,
  and its driver's order among same-instant work is fixed (docs/dependency-bugs.md).

  Background:
    Given Alice and Bob are contacts
    And the phones use the real WebRTC stack

  Scenario: A real call connects and CallKit's answer is fulfilled on connect
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 5 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected
    And the call is end-to-end encrypted on both phones
    When 10 seconds pass
    And Alice ends the call
    Then Bob's call ends within 2 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:10)"
    And Bob's chat with Alice shows "incoming call: ended (00:10)"
    And no call remains on any phone

  # SimpleX's default ICE policy is relay-only (WebRTCClient.swift, createPeerConnection:
  # `iceTransportPolicy = relay ? .relay : .all`; relay defaults to true). The world's `turn`
  # host runs a real TURN server (RFC 8656 over UDP, turn-server-proto) with the credentials of
  # SimpleX's own server, and gives relayed media the pair's media path.
  Scenario: A relay-only real call connects through the TURN server with encrypted media both ways
    Given the direct path between Alice and Bob is blocked
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 5 seconds
    When 5 seconds pass
    Then the call between Alice and Bob goes through TURN
    And the call is end-to-end encrypted on both phones
    And Bob hears Alice
    And Alice hears Bob
    And Bob receives at least 95% of Alice's audio frames
    And Alice receives at least 95% of Bob's audio frames

  Scenario: Encrypted audio and video cross the real stack both ways
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 5 seconds
    When 10 seconds pass
    Then Bob hears Alice
    And Alice hears Bob
    And Bob receives at least 95% of Alice's audio frames
    And Alice receives at least 95% of Bob's audio frames
    And the relay never saw the call in plain text

  # At 5% loss the webrtc-rs DTLS stall below spares seeds 1-100 (it struck 13 of them while a
  # relaying end answered DTLS flights a driver wake-up late, docs/dependency-bugs.md); this
  # scenario is about the loss, so it keeps a seed the stall spared then too.
  @seed(7)
  Scenario: 5% media loss on the real stack still connects and delivers most audio
    Given media between Alice and Bob loses 5% of packets
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    When 20 seconds pass
    Then Bob receives at least 85% of Alice's audio frames
    And Bob hears Alice
    And Alice's call state is "connected"

  Scenario: Blocked media fails a real call when ICE gives up
    Given media between Alice and Bob is blocked
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob does not connect
    When 25 seconds pass
    Then the call between Alice and Bob does not connect
    And Alice's call ends within 10 seconds
    And Bob's call ends within 10 seconds
    And Alice's chat with Bob shows "outgoing call: error"
    And Bob's chat with Alice shows "incoming call: error"
    # Under CallKit the end after a WebRTC failure fails and CallKit is never told (errata A4).
    But Alice's CallKit still shows a call with Bob

  Scenario: Losing the network mid-call ends a real call within seconds
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 5 seconds
    When 5 seconds pass
    And media between Alice and Bob is blocked
    Then Alice's call ends within 10 seconds
    And Bob's call ends within 10 seconds
    But Alice's CallKit still shows a call with Bob
    And Bob's CallKit still shows a call with Alice

  # webrtc-rs 0.21 bug (docs/dependency-bugs.md): after a lost flight the DTLS handshake never
  # completes; Bob's side gives up and its driver stops without reporting `failed`. ICE had
  # connected, which is what iOS reports as the call's state (errata A15), so the call showed
  # connected. callsim notices the driver stopping and ends the call with an error alert.
  # Seed 46 is one the stall strikes (relay-only, 10% loss: 2 of seeds 1-200, 31 and 46).
  @seed(46)
  Scenario: A DTLS handshake that stalls after a lost flight ends the call with an error
    Given media between Alice and Bob loses 10% of packets
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then Alice's call ends within 20 seconds
    And Bob's call ends within 12 seconds
    And Bob sees the alert "WebRTC: the connection's driver stopped"
    And Bob's chat with Alice shows "incoming call: ended (00:08)"
    And Bob's CallKit still shows a call with Alice
