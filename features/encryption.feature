@encryption
Feature: End-to-end encryption of calls
  Calls agree an X25519 key in x.call.inv and x.call.offer; the media key encrypts every frame.
  A phone without encryption support makes the call unencrypted for both.

  Background:
    Given Alice and Bob are contacts

  Scenario: Both phones derive the same media key and the relay sees only ciphertext
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call is end-to-end encrypted on both phones
    When 5 seconds pass
    Then Bob hears Alice
    And Alice hears Bob
    And the relay never saw the call in plain text

  Scenario: A callee without encryption support makes the call unencrypted
    Given Bob's phone does not support call encryption
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call is not end-to-end encrypted
    When 5 seconds pass
    Then Bob hears Alice

  Scenario: A caller without encryption support makes the call unencrypted
    Given Alice's phone does not support call encryption
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call is not end-to-end encrypted
    And Alice hears Bob

  Scenario: An unencrypted call still keeps its signalling away from the relay
    Given Alice's phone does not support call encryption
    And Bob's phone does not support call encryption
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call is not end-to-end encrypted
    And the relay never saw the call in plain text
