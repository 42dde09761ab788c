@races
Feature: The races of spec/simplex-calls.md section 5
  Each scenario pins one race from the reference behaviour, as SimpleX really does it.

  Background:
    Given Alice and Bob are contacts

  @glare
  Scenario: Glare: both call at once, each invitation overwrites the other and neither connects
    When Alice and Bob start audio calls to each other at the same time
    And 5 seconds pass
    Then the call between Alice and Bob does not connect
    And Alice's call state is "invitationSent"
    And Bob's call state is "invitationSent"
    And Alice has a pending call invitation from Bob
    And Bob has a pending call invitation from Alice

  # Each core's own outgoing call is replaced by the peer's invitation, which CallKit rings
  # beside the outgoing call. Ending the outgoing call ends the core's one call with the peer,
  # the invitation (apiEndCall in CallManager.endCall(call:), master 6bb1da9e): nothing tells
  # CallKit, which rings on for it.
  @glare
  Scenario: After glare, ending both calls leaves each phone ringing for an invitation already gone
    When Alice and Bob start video calls to each other at the same time
    And 5 seconds pass
    Then Alice sees the CallKit incoming call screen for a video call from Bob
    And Bob sees the CallKit incoming call screen for a video call from Alice
    When Alice ends the call
    And Bob ends the call
    And 2 seconds pass
    Then Alice's phone is ringing
    And Bob's phone is ringing
    And Alice has no pending call invitation
    And Bob has no pending call invitation
    And Alice's chat with Bob shows "incoming call: missed"
    When Alice declines the call through CallKit
    And Bob declines the call through CallKit
    Then no call remains on any phone

  Scenario: The caller's ICE candidates race its own answer and the call still connects
    Given the relay holds every "x.call.answer" message to Bob
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And 3 seconds pass
    Then Bob's call state is "offerSent"
    When the relay releases the held messages to Bob
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A held answer keeps the callee waiting in offerSent until it is released
    Given the relay holds every "x.call.answer" message to Bob
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And 8 seconds pass
    Then Bob's call state is "offerSent"
    And Alice's call state is "negotiated"
    And the call between Alice and Bob does not connect
    When the relay releases the held messages to Bob
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected

  Scenario: Extras that arrive before the offer are dropped and the call connects on later candidates
    Given the relay holds every "x.call.offer" message to Alice
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And 4 seconds pass
    And the relay releases the held messages to Alice
    Then the call between Alice and Bob connects within 15 seconds

  # SMP redelivers a message whose ACK was lost; the agent drops the copy before the chat core
  # (errata W7: the agent's duplicate check on the message id, simplexmq 836254a4).
  Scenario: A redelivered offer is dropped by the agent and the call still connects
    Given the relay delivers every "x.call.offer" message to Alice twice
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call is end-to-end encrypted on both phones

  Scenario: A redelivered invitation rings once and the call connects
    Given the relay delivers every "x.call.inv" message to Bob twice
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And no call remains on any phone

  Scenario: The end arrives while the callee's chat is starting: CallKit rings on after the core marked it missed
    Given Bob's app is not running
    And Bob's chat takes 60 seconds to start
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 5 seconds
    When Alice ends the call
    And 30 seconds pass
    Then Bob's phone is ringing
    And Bob has a pending call invitation from Alice
    And Alice's chat with Bob shows "outgoing call: missed"
    When Bob's chat finishes starting
    And 5 seconds pass
    Then Bob's chat with Alice shows "incoming call: missed"
    And Bob has no pending call invitation
    But Bob's phone is ringing
    When 120 seconds pass
    Then Bob's phone is ringing
    And Bob's chat with Alice shows "incoming call: missed"

  # A second invitation during a CallKit call is reported to CallKit like any other
  # (CallController.reportNewIncomingCall checks no active call; errata A5, master 6bb1da9e);
  # with one call group CallKit offers End & Accept, which ends the first call, then answers.
  Scenario: A second call during a CallKit call rings on CallKit and End & Accept ends the first
    Given Carol and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Carol starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for an audio call from Carol
    When Bob answers the call through CallKit
    Then Alice's call ends within 3 seconds
    And the call between Carol and Bob connects within 10 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:00)"

  # Found by `callsim explore --third`. CallManager.answerIncomingCall removes the invitation at
  # once but sets the active call a second later when another call is active
  # (DispatchQueue.main.asyncAfter, errata A13). An end in that second finds neither
  # (CallManager.endCall(callUUID:)) and fails; the failed answer (fulfillOnConnect?.fail() in
  # CallController.provider(_:perform: CXEndCallAction)) ends CallKit's call; the delayed answer
  # still goes ahead, so the app connects a call CallKit no longer has, and its end button asks
  # CallKit to end an unknown call, which fails (master 6bb1da9e). Only the peer can end it.
  Scenario: Ending within a second of End & Accept fails and the app connects a call CallKit no longer has
    Given Carol and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Carol starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And Bob ends the call
    Then Bob's CallKit end action fails
    And the call between Carol and Bob connects within 10 seconds
    And Bob's CallKit shows the call ended
    When Bob ends the call
    And 5 seconds pass
    Then Bob's call state is "connected"
    When Carol ends the call
    Then Bob's call ends within 3 seconds

  Scenario: A second caller declined through CallKit is rejected and the first call goes on
    Given Carol and Bob are contacts
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Carol starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob declines the call through CallKit
    And 5 seconds pass
    Then Bob has no pending call invitation
    And Bob's chat with Carol shows "incoming call: rejected"
    And Alice's call state is "connected"
    And Bob's call state is "connected"

  # Without CallKit the banner shows over the call, silent: IncomingCallView plays the ringtone
  # only while no call view shows (errata A13). Accept ends the first call directly, then
  # answers (IncomingCallView, CallController.endCall(call:), master 6bb1da9e).
  Scenario: Without CallKit a second call shows a silent banner and accepting it ends the first
    Given Carol and Bob are contacts
    And Bob has turned CallKit off
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    When Carol starts an audio call to Bob
    And 2 seconds pass
    Then Bob sees the silent in-app incoming call view for an audio call from Carol
    When Bob accepts the call in the app
    Then Alice's call ends within 3 seconds
    And the call between Carol and Bob connects within 10 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:02)"

  Scenario: Without CallKit a second caller is ignored and the first call goes on
    Given Carol and Bob are contacts
    And Bob has turned CallKit off
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    When Carol starts a video call to Bob
    And 2 seconds pass
    Then Bob sees the silent in-app incoming call view for a video call from Carol
    When Bob ignores the call
    And 5 seconds pass
    Then Bob has a pending call invitation from Carol
    And Alice's call state is "connected"
    And Bob's call state is "connected"
