@reject
Feature: Declining, rejecting, ignoring and ending before the answer
  SimpleX never tells the caller about a rejection: the callee's side is silent and the caller
  keeps calling until it ends the call itself.

  Background:
    Given Alice and Bob are contacts

  Scenario: Declining through CallKit rejects silently and the caller keeps calling
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob declines the call through CallKit
    Then Bob's call ends within 1 second
    And Bob's CallKit shows the call ended
    And Bob's chat with Alice shows "incoming call: rejected"
    And Bob has no pending call invitation
    And Bob's ringtone stops
    When 20 seconds pass
    Then Alice's call state is "invitationSent"
    And Alice's chat with Bob shows "outgoing call: calling..."
    And the call between Alice and Bob does not connect
    When Alice ends the call
    Then Alice's call ends within 1 second
    And Alice's chat with Bob shows "outgoing call: missed"
    And Bob's chat with Alice shows "incoming call: rejected"
    And no call remains on any phone

  Scenario: Rejecting in the in-app view is silent too
    Given Bob has turned CallKit off
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the in-app incoming call view for a video call from Alice
    When Bob rejects the call in the app
    Then Bob's ringtone stops
    And Bob's chat with Alice shows "incoming call: rejected"
    And Bob has no pending call invitation
    When 10 seconds pass
    Then Alice's call state is "invitationSent"
    And the call between Alice and Bob does not connect

  Scenario: Ignoring hides the view but the invitation stays pending and can be accepted later
    Given Bob has turned CallKit off
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob ignores the call
    Then Bob's ringtone stops
    And Bob has a pending call invitation from Alice
    And Bob's chat with Alice shows "incoming call: calling..."
    When 60 seconds pass
    Then Bob has a pending call invitation from Alice
    And Alice's call state is "invitationSent"

  Scenario: The caller ending before the answer leaves missed calls on both phones
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And Bob's ringtone stops
    And Bob's CallKit shows the call ended
    And Alice's chat with Bob shows "outgoing call: missed"
    And Bob's chat with Alice shows "incoming call: missed"
    And Bob has no pending call invitation
    And no call remains on any phone

  Scenario: The caller ends an unanswered in-app call and the view goes away
    Given Bob's phone is in China
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Bob sees the in-app incoming call view for a video call from Alice
    When 15 seconds pass
    And Alice ends the call
    Then Bob's call ends within 2 seconds
    And Bob's ringtone stops
    And Bob's chat with Alice shows "incoming call: missed"
    And no call remains on any phone

  Scenario: The callee hangs up a connected call through CallKit
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When 3 seconds pass
    And Bob ends the call
    Then Alice's call ends within 2 seconds
    And Bob's CallKit shows the call ended
    And Alice's CallKit shows the call ended
    And Alice's audio session is inactive
    And Bob's audio session is inactive
    And no call remains on any phone

  Scenario: A call that is never answered keeps the caller waiting until it gives up
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When 120 seconds pass
    Then Alice's call state is "invitationSent"
    And Alice's chat with Bob shows "outgoing call: calling..."
    When Alice ends the call
    Then Bob's call ends within 2 seconds
    And Alice's chat with Bob shows "outgoing call: missed"
    And Bob's chat with Alice shows "incoming call: missed"
