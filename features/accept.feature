@accept
Feature: Accepting calls
  A call is offered through CallKit, or through the in-app view when CallKit is not used; once
  accepted, WebRTC connects, the chat items follow the call, and ending it cleans up both phones.

  Background:
    Given Alice and Bob are contacts

  Scenario: An audio call answered through CallKit connects, carries audio and ends cleanly
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for an audio call from Alice
    And Bob has a pending call invitation from Alice
    And Alice's chat with Bob shows "outgoing call: calling..."
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected
    And Bob has no pending call invitation
    And Alice's call state is "connected"
    And Bob's call state is "connected"
    And Alice's audio session is active
    And Bob's audio session is active
    And Bob's ringtone stops
    When 30 seconds pass
    Then Bob hears Alice
    And Alice hears Bob
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And Alice's CallKit shows the call ended
    And Bob's CallKit shows the call ended
    And Alice's chat with Bob shows "outgoing call: ended (00:31)"
    And Bob's chat with Alice shows "incoming call: ended (00:31)"
    And no call remains on any phone

  Scenario: A video call answered through CallKit connects and the callee ends it
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for a video call from Alice
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's CallKit answer action is fulfilled
    When 10 seconds pass
    And Bob ends the call
    Then Alice's call ends within 2 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:10)"
    And Bob's chat with Alice shows "incoming call: ended (00:10)"
    And no call remains on any phone

  Scenario: The callee calls back after a finished call
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    When 2 seconds pass
    And Bob starts an audio call to Alice
    Then Alice's phone rings within 2 seconds
    When Alice answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When 5 seconds pass
    And Bob ends the call
    Then Alice's call ends within 2 seconds
    And Bob's chat with Alice shows "outgoing call: ended (00:05)"
    And Alice's chat with Bob shows "incoming call: ended (00:05)"
    And no call remains on any phone

  Scenario: An audio call is heard both ways with nearly every frame delivered
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When 20 seconds pass
    Then Bob receives at least 99% of Alice's audio frames
    And Alice receives at least 99% of Bob's audio frames
    And the call is end-to-end encrypted on both phones

  Scenario: The caller's states follow the negotiation
    When Alice starts an audio call to Bob
    Then Alice's call state is "invitationSent"
    And Bob's phone rings within 2 seconds
    And Bob's call state is "none"
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Alice's chat with Bob shows "outgoing call: in progress (00:00)"
    And Bob's chat with Alice shows "incoming call: in progress (00:00)"
    When 65 seconds pass
    Then Alice's call state is "connected"
    And Bob's call state is "connected"

  Scenario: A slow relay link makes signalling slower but the call still connects
    Given the link between Bob and the relay has 400 ms latency
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 3 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected

  # In the background with no call, SimpleX suspends the chat (SimpleXApp.swift, scenePhase
  # .background: suspendChat() unless CallKit has an active call; errata A8, master 6bb1da9e):
  # the invitation comes by push, and the VoIP push reports it to CallKit.
  Scenario: A callee with the app in the background rings on CallKit and connects
    Given Bob's app is in the background
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for an audio call from Alice
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected
