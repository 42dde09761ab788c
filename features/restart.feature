@restart
Feature: Apps killed and restarted around a call
  The chat core keeps received invitations across restarts but holds an outgoing call or a
  negotiation in memory only.

  Background:
    Given Alice and Bob are contacts

  Scenario: A caller killed during negotiation leaves the callee waiting in offerSent
    Given the relay holds every "x.call.offer" message to Alice
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    And 1 second passes
    And Alice's app is killed
    And Alice's app is started
    And the relay releases the held messages to Alice
    And 50 seconds pass
    Then Bob's call state is "offerSent"
    And the call between Alice and Bob does not connect
    And Alice's call state is "none"
    When Bob ends the call
    Then Bob's call ends within 2 seconds
    And Bob's CallKit answer action fails

  Scenario: A callee killed while ringing keeps the invitation and rings again after relaunch
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob's app is killed
    And 2 seconds pass
    And Bob's app is started
    Then Bob has a pending call invitation from Alice
    And Bob's phone rings within 5 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A caller force-quit while calling leaves the callee ringing
    Given Bob has turned CallKit off
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Alice's app is killed
    And 60 seconds pass
    Then Bob's phone is ringing
    And Bob has a pending call invitation from Alice
    And Alice's call state is "none"

  # Alice's connection hears nothing for 5 s and closes; under CallKit the end it asks for fails,
  # no x.call.end goes out, and CallKit is never told (errata A4: WebRTCClient ICE
  # disconnected -> endCall, ActiveCallView.processRtcMessage "closed", master 6bb1da9e).
  Scenario: A callee killed during a connected call ends the call for the caller
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Bob's app is killed
    Then Alice's call ends within 40 seconds
    And Alice's audio session is inactive
    And Alice's chat with Bob shows "outgoing call: ended (00:05)"
    But Alice's CallKit still shows a call with Bob

  Scenario: An app sent to the background during a call keeps the call
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Alice's app goes to the background
    And 20 seconds pass
    Then Alice's call state is "connected"
    And Bob hears Alice
    When Alice's app comes to the foreground
    And Alice ends the call
    Then Bob's call ends within 2 seconds
