@audio_routing
Feature: Audio routes and in-call controls

  Background:
    Given Alice and Bob are contacts

  Scenario: An audio call starts on the earpiece and the speaker toggle moves it
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Alice's audio goes to the earpiece
    And Bob's audio goes to the earpiece
    When Alice turns the speaker on
    Then Alice's audio goes to the speaker
    When Alice turns the speaker off
    Then Alice's audio goes to the earpiece

  Scenario: A Bluetooth headset takes the audio and the picker moves it
    Given Alice has a Bluetooth headset connected
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Alice's audio goes to the Bluetooth headset
    When Alice picks the earpiece for audio
    Then Alice's audio goes to the earpiece
    When Alice picks the speaker for audio
    # SimpleX's speaker toggle prefers a connected external device over the speaker.
    Then Alice's audio goes to the Bluetooth headset
    When Alice picks the earpiece for audio
    Then Alice's audio goes to the earpiece
    When Alice picks the Bluetooth headset for audio
    Then Alice's audio goes to the Bluetooth headset

  Scenario: A video call uses the speaker and the camera controls keep the call
    When Alice starts a video call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Alice's audio goes to the speaker
    When Alice switches to the back camera
    And Alice turns the camera off
    And 2 seconds pass
    And Alice turns the camera on
    And Alice switches to the front camera
    And 2 seconds pass
    Then Alice's call state is "connected"
    And Bob hears Alice

  Scenario: Muting and unmuting keep the call and the peer hears the caller again
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    When Alice mutes the microphone
    And 5 seconds pass
    Then Alice's call state is "connected"
    When Alice unmutes the microphone
    And 5 seconds pass
    Then Bob hears Alice

  Scenario: The audio session ends with the call on both phones
    When Alice starts an audio call to Bob
    Then Bob's phone rings within 2 seconds
    When Bob answers the call through CallKit
    Then the call between Alice and Bob connects within 10 seconds
    And Alice's audio session is active
    When Bob ends the call
    Then Alice's call ends within 2 seconds
    And Alice's audio session is inactive
    And Bob's audio session is inactive
