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

  Scenario: Media blocked for good fails the call after the ICE timeout
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When media between Alice and Bob is blocked
    And 5 seconds pass
    Then Alice's call state is "connected"
    And Alice's call ends within 40 seconds
    And Bob's call ends within 40 seconds
    And Alice's CallKit shows the call ended
    And Bob's CallKit shows the call ended
    And no call remains on any phone

  Scenario: Media blocked from the start never connects and both calls end
    Given media between Alice and Bob is blocked
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob does not connect
    And Bob's call ends within 45 seconds
    And Alice's call ends within 45 seconds
    And Bob's CallKit answer action fails
    And no call remains on any phone

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
