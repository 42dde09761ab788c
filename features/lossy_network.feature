@lossy_network
Feature: Lossy, bursty, slow and blocked networks

  Background:
    Given Alice and Bob are contacts

  Scenario: 5% media loss still connects and delivers most audio
    Given media between Alice and Bob loses 5% of packets
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    When 30 seconds pass
    Then Bob receives at least 90% of Alice's audio frames
    And Bob hears Alice

  Scenario: Bursty media loss still delivers most audio and the call holds
    Given media between Alice and Bob loses 10% of packets
    And media between Alice and Bob loses packets in bursts of 5
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 20 seconds
    When 30 seconds pass
    Then Bob receives at least 80% of Alice's audio frames
    And Alice's call state is "connected"

  Scenario: Loss on the relay link makes signalling late but the call connects
    Given the link between Alice and the relay loses 20% of packets
    And the link between Bob and the relay loses 20% of packets
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 10 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 30 seconds

  Scenario: High media latency still connects and carries audio
    Given media between Alice and Bob has 300 ms latency
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    When 10 seconds pass
    Then Bob hears Alice
    And Alice hears Bob

  Scenario: Heavy loss that starts during a call still lets half the audio through
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When media between Alice and Bob loses 30% of packets
    And 20 seconds pass
    Then Bob receives at least 50% of Alice's audio frames
    And Bob hears Alice

  Scenario: Calls relayed through TURN survive a blocked direct path
    Given Alice always relays calls through TURN
    And Bob always relays calls through TURN
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    And the call between Alice and Bob goes through TURN
    When the direct path between Alice and Bob is blocked
    And 40 seconds pass
    Then Alice's call state is "connected"
    And Bob hears Alice

  Scenario: One relay-only side still connects with the other on host candidates
    Given Bob always relays calls through TURN
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 15 seconds
    And the call is end-to-end encrypted on both phones

  # Errata A3: "Always use relay" is on by default (appDefaults[DEFAULT_WEBRTC_POLICY_RELAY] =
  # true, SettingsView.swift, master 6bb1da9e): media goes through TURN unless a user turns it
  # off, and each side applies its own setting.
  Scenario: With SimpleX's default settings a call goes through TURN
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call between Alice and Bob goes through TURN
    And Bob hears Alice

  Scenario: Two phones that allow direct calls connect peer to peer
    Given Alice allows direct peer-to-peer calls
    And Bob allows direct peer-to-peer calls
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call between Alice and Bob goes peer to peer
    And Bob hears Alice

  Scenario: A call where only one side allows direct calls still goes through TURN
    Given Alice allows direct peer-to-peer calls
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And the call between Alice and Bob goes through TURN
