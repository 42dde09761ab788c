@permissions
Feature: Microphone and camera permissions

  # SimpleX checks no permission before a call (errata A7, master 6bb1da9e): the call view's
  # onAppear asks for what is missing (ActiveCallView.askRequiredPermissions) while the WebRTC
  # client is made, and the call goes on either way. At most one alert follows, the
  # microphone's first (WebRTCClient.showUnauthorizedAlert).

  Background:
    Given Alice and Bob are contacts

  Scenario: A caller without microphone access sees an alert and the call still goes out
    Given Alice has denied microphone access
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    And Alice sees the alert "No permission to record speech"
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A caller without camera access sees an alert and the video call still goes out
    Given Alice has denied camera access
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Alice sees the alert "No permission to record video"
    And Bob sees the CallKit incoming call screen for a video call from Alice

  Scenario: A caller without camera access can still make an audio call
    Given Alice has denied camera access
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A callee without camera access accepts a video call in the app and it connects
    Given Bob has turned CallKit off
    And Bob has denied camera access
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob accepts the call in the app
    Then the call between Alice and Bob connects within 10 seconds
    And Bob sees the alert "No permission to record video"

  Scenario: A first call asks for the microphone and goes on when it is granted
    Given Alice has not been asked for microphone access and will say yes
    When Alice starts an audio call to Bob
    Then Alice was asked for microphone access
    And Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds

  Scenario: A first video call asks for the camera and goes on when it is refused
    Given Alice has not been asked for camera access and will say no
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    And Alice was asked for camera access
    When 2 seconds pass
    Then Alice sees the alert "No permission to record video"
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
