//! Known-answer and behaviour tests of the call crypto.

use callsim_engine::Error;
use callsim_engine::crypto::{
    FRAME_OVERHEAD, FrameCipher, FrameKind, IV_LEN, KeyPair, MediaKey, MediaKeyVersion,
    MediaPlatform, PublicKey,
};
use callsim_engine::protocol::CallId;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

// RFC 7748 §6.1.
const ALICE_PRIV: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIV: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

#[test]
fn x25519_matches_rfc_7748_section_6_1() {
    let alice = KeyPair::from_secret_bytes(hex32(ALICE_PRIV));
    let bob = KeyPair::from_secret_bytes(hex32(BOB_PRIV));
    assert_eq!(alice.public_key(), PublicKey(hex32(ALICE_PUB)));
    assert_eq!(bob.public_key(), PublicKey(hex32(BOB_PUB)));
    assert_eq!(alice.diffie_hellman(&bob.public_key()).0, hex32(SHARED));
    assert_eq!(bob.diffie_hellman(&alice.public_key()).0, hex32(SHARED));
}

#[test]
fn public_keys_are_written_as_base64url_der_spki() {
    let alice = KeyPair::from_secret_bytes(hex32(ALICE_PRIV));
    let text = alice.public_key().to_string();
    assert_eq!(
        text,
        "MCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo="
    );
    assert_eq!(text.parse::<PublicKey>(), Ok(alice.public_key()));
}

#[test]
fn media_key_v1_is_the_raw_dh_secret_as_padded_base64url() {
    let dh =
        KeyPair::from_secret_bytes(hex32(ALICE_PRIV)).diffie_hellman(&PublicKey(hex32(BOB_PUB)));
    let call_id = CallId::from_bytes(&[0; 16]).expect("bytes");
    let key = MediaKey::derive(MediaKeyVersion::V1, &call_id, &dh);
    assert_eq!(key.0, hex32(SHARED));
    assert_eq!(
        key.to_string(),
        "Sl2dW6TOLeFyjjv0gDUPJeB-IclH0Z4zdvCbPB4WF0I="
    );
    assert_eq!(key.to_string().parse::<MediaKey>(), Ok(key));
}

#[test]
fn media_key_v2_matches_hkdf_sha512_from_an_independent_implementation() {
    // Expected value computed with node's crypto.hkdfSync("sha512", ikm, salt, info, 32)
    // (OpenSSL), with ikm = the RFC 7748 shared secret and salt = the call id 00 01 .. 0f.
    let dh =
        KeyPair::from_secret_bytes(hex32(ALICE_PRIV)).diffie_hellman(&PublicKey(hex32(BOB_PUB)));
    let call_id =
        CallId::from_bytes(&core::array::from_fn::<u8, 16, _>(|i| i as u8)).expect("bytes");
    let key = MediaKey::derive(MediaKeyVersion::V2, &call_id, &dh);
    assert_eq!(
        key.0,
        hex32("51966264a2292025d8390b988f97228bb7118c7d16d6d939899f2c78d1548095")
    );
}

#[test]
fn media_key_version_follows_the_negotiated_call_version() {
    assert_eq!(MediaKeyVersion::for_call_version(None), MediaKeyVersion::V1);
    assert_eq!(
        MediaKeyVersion::for_call_version(Some(1)),
        MediaKeyVersion::V1
    );
    assert_eq!(
        MediaKeyVersion::for_call_version(Some(2)),
        MediaKeyVersion::V2
    );
    assert_eq!(
        MediaKeyVersion::for_call_version(Some(7)),
        MediaKeyVersion::V2
    );
}

#[test]
fn key_generation_is_reproducible_from_a_seed() {
    let a = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(7)).public_key();
    let b = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(7)).public_key();
    let c = KeyPair::generate(&mut ChaCha8Rng::seed_from_u64(8)).public_key();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn cipher() -> FrameCipher {
    FrameCipher::new(&MediaKey(hex32(SHARED)), MediaPlatform::Js)
}

fn ios_cipher() -> FrameCipher {
    FrameCipher::new(&MediaKey(hex32(SHARED)), MediaPlatform::Ios)
}

#[test]
fn frames_keep_their_prefix_in_clear_and_grow_by_28_bytes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let frame: Vec<u8> = (0..100u8).collect();
    for (kind, prefix) in [
        (FrameKind::Audio, 1),
        (FrameKind::VideoKey, 10),
        (FrameKind::VideoDelta, 3),
        (FrameKind::VideoEmpty, 1),
    ] {
        assert_eq!(kind.clear_prefix_len(), prefix);
        let enc = cipher().encrypt(kind, &frame, &mut rng);
        assert_eq!(enc.len(), frame.len() + FRAME_OVERHEAD);
        assert_eq!(enc[..prefix], frame[..prefix], "{kind:?} prefix");
        assert_ne!(
            enc[prefix..100],
            frame[prefix..],
            "{kind:?} body is encrypted"
        );
        assert_eq!(cipher().decrypt(kind, &enc), Ok(frame.clone()));
    }
}

#[test]
fn the_iv_is_appended_and_drawn_from_the_injected_rng() {
    let frame = [0x78u8; 20];
    let a = cipher().encrypt(FrameKind::Audio, &frame, &mut ChaCha8Rng::seed_from_u64(5));
    let b = cipher().encrypt(FrameKind::Audio, &frame, &mut ChaCha8Rng::seed_from_u64(5));
    let c = cipher().encrypt(FrameKind::Audio, &frame, &mut ChaCha8Rng::seed_from_u64(6));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut iv = [0u8; IV_LEN];
    rand_core::RngCore::fill_bytes(&mut ChaCha8Rng::seed_from_u64(5), &mut iv);
    assert_eq!(a[a.len() - IV_LEN..], iv);
}

/// Errata W6: iOS's frame encryptor reserves 28 bytes for every frame and the core's
/// `chat_encrypt_media` fills them with the tag and the IV, even when nothing follows the clear
/// prefix (`WebRTCClient.swift` `frameEncryptor`, `Mobile/WebRTC.hs` `chatEncryptMedia`,
/// SimpleX master 6bb1da9e); call.ts's `encryptFrame` appends only the IV then.
#[test]
fn a_frame_with_nothing_after_its_prefix_gets_a_tag_and_an_iv_on_ios() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // Frames exactly as long as their clear prefix (a shorter one is an error on iOS).
    for (kind, frame) in [
        (FrameKind::VideoDelta, &[0x31, 0x02, 0x03][..]),
        (FrameKind::Audio, &[0x78][..]),
    ] {
        let enc = ios_cipher().encrypt(kind, frame, &mut rng);
        assert_eq!(enc.len(), frame.len() + FRAME_OVERHEAD);
        assert_eq!(
            cipher().encrypt(kind, frame, &mut rng).len(),
            frame.len() + IV_LEN
        );
        // Either platform reads it: the tag authenticates an empty payload.
        for reader in [ios_cipher(), cipher()] {
            assert_eq!(reader.decrypt(kind, &enc), Ok(frame.to_vec()));
        }
        let mut bad = enc.clone();
        bad[frame.len()] ^= 1;
        assert_eq!(
            ios_cipher().decrypt(kind, &bad),
            Err(Error::FrameAuthentication)
        );
    }
    // Both platforms write the same layout when there is a payload.
    let frame = [0x78u8; 40];
    let ios = ios_cipher().encrypt(FrameKind::Audio, &frame, &mut ChaCha8Rng::seed_from_u64(3));
    let js = cipher().encrypt(FrameKind::Audio, &frame, &mut ChaCha8Rng::seed_from_u64(3));
    assert_eq!(ios, js);
}

#[test]
fn a_frame_with_nothing_after_its_prefix_gets_only_the_iv_in_call_ts() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for frame in [&[][..], &[0x31, 0x02][..], &[0x31, 0x02, 0x03][..]] {
        let enc = cipher().encrypt(FrameKind::VideoDelta, frame, &mut rng);
        assert_eq!(enc.len(), frame.len() + IV_LEN);
        assert_eq!(
            cipher().decrypt(FrameKind::VideoDelta, &enc),
            Ok(frame.to_vec())
        );
    }
}

#[test]
fn any_flipped_bit_outside_the_clear_prefix_is_detected() {
    let frame: Vec<u8> = (0..40u8).collect();
    let enc = cipher().encrypt(
        FrameKind::VideoKey,
        &frame,
        &mut ChaCha8Rng::seed_from_u64(3),
    );
    for byte in 10..enc.len() {
        for bit in 0..8 {
            let mut bad = enc.clone();
            bad[byte] ^= 1 << bit;
            assert_eq!(
                cipher().decrypt(FrameKind::VideoKey, &bad),
                Err(Error::FrameAuthentication),
                "byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn a_wrong_key_or_a_truncated_frame_is_an_error() {
    let enc = cipher().encrypt(
        FrameKind::Audio,
        &[1; 50],
        &mut ChaCha8Rng::seed_from_u64(4),
    );
    let other = FrameCipher::new(&MediaKey([9; 32]), MediaPlatform::Ios);
    assert_eq!(
        other.decrypt(FrameKind::Audio, &enc),
        Err(Error::FrameAuthentication)
    );
    assert_eq!(
        cipher().decrypt(FrameKind::Audio, &enc[..11]),
        Err(Error::FrameTooShort { len: 11 })
    );
    assert_eq!(
        cipher().decrypt(FrameKind::Audio, &enc[..20]),
        Err(Error::FrameTooShort { len: 20 })
    );
}

#[test]
fn vp8_key_frames_are_recognised_by_the_p_bit_as_ios_does() {
    assert_eq!(
        FrameKind::of_video_frame(&[0x10, 0x02]),
        FrameKind::VideoKey
    );
    assert_eq!(
        FrameKind::of_video_frame(&[0x31, 0x02]),
        FrameKind::VideoDelta
    );
    assert_eq!(FrameKind::of_video_frame(&[]), FrameKind::VideoEmpty);
}
