@china_mode
Feature: Calls without CallKit
  In China (App Store country CHN) or with the CallKit setting off, the app never uses CallKit:
  an in-app view with a ringtone offers the call and audio starts on the app's own session.

  Background:
    Given Alice and Bob are contacts

  Scenario: A video call in China rings in the app and connects on the speaker
    Given Alice's phone is in China
    And Bob's phone is in China
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the in-app incoming call view for a video call from Alice
    And Bob's phone is ringing
    When Bob accepts the call in the app
    Then Bob's ringtone stops
    And the call between Alice and Bob connects within 10 seconds
    And Alice's audio goes to the speaker
    And Bob's audio goes to the speaker
    When 10 seconds pass
    And Bob ends the call
    Then Alice's call ends within 2 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:10)"
    And no call remains on any phone

  Scenario: An audio call with CallKit turned off rings in the app and uses the earpiece
    Given Bob has turned CallKit off
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the in-app incoming call view for an audio call from Alice
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's audio goes to the earpiece
    And Bob's audio session is active
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And Bob's audio session is inactive
    And no call remains on any phone

  Scenario: A CallKit caller and a CallKit-free callee still connect
    Given Bob's phone is in China
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the in-app incoming call view for an audio call from Alice
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And Alice's CallKit shows the call ended
    And no call remains on any phone

  Scenario: A CallKit-free caller and a CallKit callee still connect
    Given Alice's phone is in China
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for a video call from Alice
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Bob's CallKit answer action is fulfilled only after the call connected
    When Bob ends the call
    Then Alice's call ends within 2 seconds
    And no call remains on any phone

  Scenario: Without CallKit a locked phone does not ring until it is unlocked
    Given Bob has turned CallKit off
    And Bob's phone is locked
    When Alice starts an audio call to Bob
    And 5 seconds pass
    Then Bob has a pending call invitation from Alice
    And Bob's phone does not ring

  Scenario: With CallKit a locked phone rings on the native screen
    Given Bob's phone is locked
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the CallKit incoming call screen for an audio call from Alice
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  # Errata A8: without CallKit, going to the background suspends the chat even during a call
  # (SimpleXApp .background: suspendChat() unless useCallKit() && activeCall != nil). Media goes
  # on, but the return activates the chat and the core's restoreCalls keeps only pending
  # received invitations (APIActivateChat, master 6bb1da9e): Bob's end then finds no call in his
  # core ("no current call", logged), so no x.call.end goes out, and Alice's call ends only when
  # her connection hears nothing for 5 s. Bob's call item is left in progress by the core.
  Scenario: Without CallKit a call survives the background but its end no longer reaches the caller
    Given Bob's phone is in China
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    When Bob's app goes to the background
    And 10 seconds pass
    Then Bob's call state is "connected"
    And Alice hears Bob
    When Bob's app comes to the foreground
    And 1 second passes
    And Bob ends the call
    Then Bob's call ends within 1 second
    And Alice's call ends within 10 seconds
    And Alice's chat with Bob shows "outgoing call: ended (00:16)"
