@timeouts
Feature: Timers: the 30 s CallKit answer wait, the 180 s ringing window and the ICE timeouts

  Background:
    Given Alice and Bob are contacts

  Scenario: A CallKit answer waits for a chat that starts at 29 seconds and connects
    Given Bob's app is not running
    And Bob's chat takes 29 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    And Bob sees the CallKit incoming call screen for an audio call from Alice
    When Bob answers the call through CallKit
    And 20 seconds pass
    Then Bob's call state is "none"
    And the call between Alice and Bob does not connect
    And the call between Alice and Bob connects within 30 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected

  Scenario: A CallKit answer fails at 30 seconds when the chat needs 31 and the invitation stays
    Given Bob's app is not running
    And Bob's chat takes 31 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit
    And 32 seconds pass
    Then Bob's CallKit answer action fails
    And Bob has a pending call invitation from Alice
    And Alice's call state is "invitationSent"
    And the call between Alice and Bob does not connect
    And Bob's chat with Alice shows "incoming call: calling..."

  Scenario: A push later than 180 seconds rings only as an expired call but leaves the invitation
    Given Bob's app is suspended
    And push notifications to Bob take 200 seconds
    When Alice starts an audio call to Bob
    And 199 seconds pass
    Then Bob has no pending call invitation
    When 2 seconds pass
    # iOS needs every VoIP push reported to CallKit: a dummy call, ended a second later.
    Then Bob's phone is ringing
    And Bob's call ends within 2 seconds
    And Bob has a pending call invitation from Alice
    And Bob's chat with Alice shows "incoming call: calling..."
    And Alice's call state is "invitationSent"

  Scenario: A suspended phone rings once the push arrives
    Given Bob's app is suspended
    And push notifications to Bob take 4 seconds
    When Alice starts an audio call to Bob
    And 3 seconds pass
    Then Bob's call state is "none"
    And Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  # ICE reports disconnected after 5 s of silence and the client ends the call at once, with no
  # restart (WebRTCClient iceConnectionState .disconnected -> endCall). Under CallKit the end
  # that follows fails and nobody sends x.call.end or tells CallKit (errata A4, master 6bb1da9e).
  Scenario: Media blocked for good ends the call when ICE disconnects, and CallKit keeps it
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When media between Alice and Bob is blocked
    And 4 seconds pass
    Then Alice's call state is "connected"
    And Alice's call ends within 5 seconds
    And Bob's call ends within 5 seconds
    But Alice's CallKit still shows a call with Bob
    And Bob's CallKit still shows a call with Alice

  # ICE fails after 30 s of checks (iceInactiveTimeout); the failed end action fails Bob's
  # pending answer first (CXEndCallAction: fulfillOnConnect?.fail(), errata A2).
  Scenario: Media blocked from the start never connects and both calls end
    Given media between Alice and Bob is blocked
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob does not connect
    And Bob's call ends within 45 seconds
    And Alice's call ends within 45 seconds
    And Bob's CallKit answer action fails
    And Alice's chat with Bob shows "outgoing call: error"
    And Bob's chat with Alice shows "incoming call: error"
    But Alice's CallKit still shows a call with Bob

  Scenario: A brief media outage during a call is survived
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When media between Alice and Bob is blocked
    And 2 seconds pass
    And media between Alice and Bob is unblocked
    And 10 seconds pass
    Then Alice's call state is "connected"
    And Bob's call state is "connected"
    And Bob hears Alice

  # Errata A2: a remote end before the call connects is reported to CallKit
  # (reportCallRemoteEnded(call:)), but the answer held for fulfilOnConnect is neither fulfilled
  # nor failed: CallKit times it out (CallController.provider(_:timedOutPerforming:), which then
  # fulfils it; master 6bb1da9e). CallKit's action timeout is not documented: callsim uses 60 s.
  Scenario: A caller who hangs up before the call connects leaves the CallKit answer to CallKit's timeout
    Given the relay holds every "x.call.offer" message to Alice
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And 2 seconds pass
    And Alice ends the call
    Then Bob's call ends within 2 seconds
    And Bob's CallKit shows the call ended
    When 60 seconds pass
    Then Bob's CallKit answer action fails
    And Bob's chat with Alice shows "incoming call: ended (00:00)"

  # Errata A12: an end during the answer's 30 s wait for the chat does not cancel the wait. The
  # end action fails (a push-started app has no invitation in its model yet), and once the chat
  # runs the answer goes ahead through justRefreshCallInvitations and the call connects
  # (CallController.provider(_:perform: CXAnswerCallAction / CXEndCallAction), master 6bb1da9e).
  # The chat must run within 3 s of the end: see the next scenario.
  Scenario: Ending a CallKit call while its answer waits for the chat does not stop the answer
    Given Bob's app is not running
    And Bob's chat takes 3 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit
    And 1 second passes
    And Bob ends the call
    Then Bob's CallKit end action fails
    And the call between Alice and Bob connects within 15 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected

  # The failed end action still runs suspendOnEndCall (CallController.provider(_:perform:
  # CXEndCallAction), master 6bb1da9e): 3 s later, with no active call, a push-started app
  # suspends its chat, which was still starting. The answer's wait for the chat
  # (waitUntilChatStarted, 30 s) runs out and fails the answer action. Found by
  # `callsim explore --third` once CallKit stopped ringing for an answered call.
  Scenario: Ending a CallKit call while its answer waits for a slow chat suspends the chat and the answer fails
    Given Bob's app is not running
    And Bob's chat takes 10 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit
    And 1 second passes
    And Bob ends the call
    Then Bob's CallKit end action fails
    When 35 seconds pass
    Then the call between Alice and Bob does not connect
    And Bob's CallKit answer action fails
