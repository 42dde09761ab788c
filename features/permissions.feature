@permissions
Feature: Microphone and camera permissions

  Background:
    Given Alice and Bob are contacts

  Scenario: A caller without microphone access sees an alert and no call starts
    Given Alice has denied microphone access
    When Alice starts an audio call to Bob
    And 2 seconds pass
    Then Alice sees the alert "Allow microphone access to make and receive calls"
    And Alice's call state is "none"
    And Bob has no pending call invitation
    And Bob's phone does not ring

  Scenario: A caller without camera access cannot start a video call
    Given Alice has denied camera access
    When Alice starts a video call to Bob
    And 2 seconds pass
    Then Alice sees the alert "Allow camera access to make video calls"
    And Alice's call state is "none"
    And Bob's phone does not ring

  Scenario: A caller without camera access can still make an audio call
    Given Alice has denied camera access
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A callee without camera access cannot accept a video call in the app
    Given Bob has turned CallKit off
    And Bob has denied camera access
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app
    And 2 seconds pass
    Then Bob sees the alert "Allow camera access to make video calls"
    And the call between Alice and Bob does not connect
    And Bob's call state is "none"

  Scenario: A first call asks for the microphone and goes on when it is granted
    Given Alice has not been asked for microphone access and will say yes
    When Alice starts an audio call to Bob
    Then Alice was asked for microphone access
    And Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A first video call asks for the camera and stops when it is refused
    Given Alice has not been asked for camera access and will say no
    When Alice starts a video call to Bob
    And 500 milliseconds pass
    Then Alice was asked for camera access
    And Alice's call state is "none"
    And Bob's phone does not ring
