//! The crypto provider a simulated real-stack connection runs on: webrtc-rs's own (ring) for
//! every operation, except what ring would draw from the kernel, drawn from the session's seed.
//!
//! ring asks the kernel for randomness itself (`getrandom` 0.2 makes the system call), which
//! no seeding of the process reaches. A connection's randomness there: the certificate's key
//! and its self-signature (the `a=fingerprint` of the SDP), the 28 random bytes of the DTLS
//! randoms, the ECDHE keys, and the nonces of the handshake's ECDSA signatures. Here the
//! random source is a ChaCha20 stream of the seed, the certificate key is drawn from it, ECDSA
//! signs deterministically (RFC 6979, as p256 does), and X25519 and P-256 key exchanges take
//! their secrets from the stream. Everything else (hashes, HMAC, AEAD, SRTP, verifying the
//! peer's signatures) is ring's, unchanged.
//!
//! Not reached: the first 4 bytes of each DTLS random are the wall clock's seconds (rtc-dtls,
//! `HandshakeRandom`), so the handshake's bytes, its signatures' DER lengths and the SRTP keys
//! still change with the second a run starts. Nothing a trace records depends on them (turmoil
//! does not model datagram sizes), so traces repeat; the datagrams' bytes do not.
//!
//! Used inside simulations only: on the real network the stack keeps its own provider.

use std::sync::{Arc, Mutex, PoisonError};

use p256::ecdsa::signature::Signer;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rtc::crypto::{
    ActiveKeyExchange, AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CbcAlgorithm, CbcCipher,
    CryptoAlgorithm, CryptoError, HashAlgorithm, HmacAlgorithm, KeyExchangeAlgorithm, Mac,
    PublicKey, PublicKeyEncoding, RTCCrypto, RTCCryptoProvider, RTCRandom, SecretVec,
    SignatureScheme, SigningKey, StreamCipher, StreamCipherAlgorithm,
};

type Stream = Arc<Mutex<ChaCha20Rng>>;

fn draw(stream: &Stream, out: &mut [u8]) {
    stream
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .fill_bytes(out);
}

/// The provider: ring's operations, the seed's randomness.
pub(super) struct SeededProvider {
    crypto: SeededCrypto,
    random: SeededRandom,
}

impl SeededProvider {
    /// A provider over ring whose randomness is a ChaCha20 stream of `seed`.
    pub(super) fn new(seed: u64) -> Result<Self, CryptoError> {
        let inner = rtc::crypto::default_provider()?;
        let stream: Stream = Arc::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed)));
        Ok(SeededProvider {
            crypto: SeededCrypto {
                inner,
                stream: Arc::clone(&stream),
            },
            random: SeededRandom(stream),
        })
    }
}

impl RTCCryptoProvider for SeededProvider {
    fn name(&self) -> &'static str {
        "callsim-seeded-ring"
    }

    fn crypto(&self) -> &dyn RTCCrypto {
        &self.crypto
    }

    fn random(&self) -> &dyn RTCRandom {
        &self.random
    }
}

struct SeededRandom(Stream);

impl RTCRandom for SeededRandom {
    fn fill(&self, output: &mut [u8]) -> Result<(), CryptoError> {
        draw(&self.0, output);
        Ok(())
    }
}

struct SeededCrypto {
    inner: Arc<dyn RTCCryptoProvider>,
    stream: Stream,
}

impl RTCCrypto for SeededCrypto {
    fn supports(&self, algorithm: CryptoAlgorithm) -> bool {
        self.inner.crypto().supports(algorithm)
    }

    fn hash(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.crypto().hash(algorithm, data)
    }

    fn block_encrypt(
        &self,
        algorithm: BlockCipherAlgorithm,
        key: &[u8],
        block: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner.crypto().block_encrypt(algorithm, key, block)
    }

    fn new_hmac(&self, algorithm: HmacAlgorithm, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        self.inner.crypto().new_hmac(algorithm, key)
    }

    fn new_stream_cipher(
        &self,
        algorithm: StreamCipherAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn StreamCipher>, CryptoError> {
        self.inner.crypto().new_stream_cipher(algorithm, key)
    }

    fn new_aead(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn AeadCipher>, CryptoError> {
        self.inner.crypto().new_aead(algorithm, key)
    }

    fn new_cbc(
        &self,
        algorithm: CbcAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn CbcCipher>, CryptoError> {
        self.inner.crypto().new_cbc(algorithm, key)
    }

    fn start_key_exchange(
        &self,
        algorithm: KeyExchangeAlgorithm,
    ) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        match algorithm {
            KeyExchangeAlgorithm::X25519 => {
                let mut secret = [0u8; 32];
                draw(&self.stream, &mut secret);
                Ok(Box::new(X25519Exchange::new(secret)))
            }
            KeyExchangeAlgorithm::P256 => {
                let secret = p256_secret(&self.stream);
                Ok(Box::new(P256Exchange::new(secret)))
            }
            // Not offered by webrtc-rs's DTLS by default; ring's own if a peer insists.
            _ => self.inner.crypto().start_key_exchange(algorithm),
        }
    }

    fn generate_signing_key(
        &self,
        scheme: SignatureScheme,
    ) -> Result<Arc<dyn SigningKey>, CryptoError> {
        match scheme {
            SignatureScheme::EcdsaP256Sha256 => {
                let secret = p256_secret(&self.stream);
                Ok(Arc::new(P256SigningKey::new(secret)))
            }
            _ => self.inner.crypto().generate_signing_key(scheme),
        }
    }

    fn import_signing_key(
        &self,
        scheme: SignatureScheme,
        pkcs8_der: &[u8],
    ) -> Result<Arc<dyn SigningKey>, CryptoError> {
        self.inner.crypto().import_signing_key(scheme, pkcs8_der)
    }

    fn verify_signature(
        &self,
        scheme: SignatureScheme,
        public_key: PublicKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner
            .crypto()
            .verify_signature(scheme, public_key, message, signature)
    }
}

/// A P-256 secret scalar from the stream (drawn again in the rare case it is out of range).
fn p256_secret(stream: &Stream) -> p256::SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        draw(stream, &mut bytes);
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            return secret;
        }
    }
}

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl X25519Exchange {
    fn new(bytes: [u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        X25519Exchange { secret, public }
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn algorithm(&self) -> KeyExchangeAlgorithm {
        KeyExchangeAlgorithm::X25519
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public_key: &[u8]) -> Result<SecretVec, CryptoError> {
        let peer: [u8; 32] = peer_public_key
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // RFC 7748 §6.1: an all-zero result means a small-order peer key; refuse it as ring does.
        if !shared.was_contributory() {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(SecretVec::new(shared.as_bytes().to_vec()))
    }
}

struct P256Exchange {
    secret: p256::SecretKey,
    public: Vec<u8>,
}

impl P256Exchange {
    fn new(secret: p256::SecretKey) -> Self {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        P256Exchange { secret, public }
    }
}

impl ActiveKeyExchange for P256Exchange {
    fn algorithm(&self) -> KeyExchangeAlgorithm {
        KeyExchangeAlgorithm::P256
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public_key: &[u8]) -> Result<SecretVec, CryptoError> {
        let peer = p256::PublicKey::from_sec1_bytes(peer_public_key)
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        Ok(SecretVec::new(shared.raw_secret_bytes().to_vec()))
    }
}

/// An ECDSA P-256 key that signs deterministically (RFC 6979), so the same key and message
/// give the same DER signature, and its length, every run.
struct P256SigningKey {
    key: p256::ecdsa::SigningKey,
    public: Vec<u8>,
}

impl P256SigningKey {
    fn new(secret: p256::SecretKey) -> Self {
        let key = p256::ecdsa::SigningKey::from(secret);
        let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        P256SigningKey { key, public }
    }
}

impl SigningKey for P256SigningKey {
    fn supports(&self, scheme: SignatureScheme) -> bool {
        scheme == SignatureScheme::EcdsaP256Sha256
    }

    fn public_key(&self) -> PublicKey<'_> {
        PublicKey {
            encoding: PublicKeyEncoding::EcUncompressedPoint,
            bytes: &self.public,
        }
    }

    fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if scheme != SignatureScheme::EcdsaP256Sha256 {
            return Err(CryptoError::UnsupportedAlgorithm(
                CryptoAlgorithm::Signature(scheme),
            ));
        }
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded provider, its certificate key, and that key's signature of `flight 4`.
    fn signed(seed: u64) -> (SeededProvider, Arc<dyn SigningKey>, Vec<u8>) {
        let provider = SeededProvider::new(seed).expect("ring is built in");
        let key = provider
            .crypto()
            .generate_signing_key(SignatureScheme::EcdsaP256Sha256)
            .expect("a key");
        let signature = key
            .sign(SignatureScheme::EcdsaP256Sha256, b"flight 4")
            .expect("signed");
        (provider, key, signature)
    }

    #[test]
    fn the_same_seed_gives_the_same_keys_and_signatures_and_they_verify_with_ring() {
        let sign = |seed| {
            let (provider, key, signature) = signed(seed);
            provider
                .crypto()
                .verify_signature(
                    SignatureScheme::EcdsaP256Sha256,
                    key.public_key(),
                    b"flight 4",
                    &signature,
                )
                .expect("ring verifies it");
            (key.public_key().bytes.to_vec(), signature)
        };
        assert_eq!(sign(1), sign(1));
        assert_ne!(sign(1).0, sign(2).0);
    }

    #[test]
    fn seed_1_gives_the_keys_and_signature_it_always_gave() {
        // Known answers: traces carry the certificate's fingerprint, so a dependency upgrade
        // must not change the bytes (p256 0.13 and 0.14 both give these; the exchange key is the
        // stream's next draw).
        let (provider, key, signature) = signed(1);
        let exchange = provider
            .crypto()
            .start_key_exchange(KeyExchangeAlgorithm::P256)
            .expect("started");
        assert_eq!(hex(key.public_key().bytes), PUBLIC_1);
        assert_eq!(hex(&signature), SIGNATURE_1);
        assert_eq!(hex(exchange.public_key()), EXCHANGE_1);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const PUBLIC_1: &str = "04871d350cbe37fa4ea973c3ab837df73a5aecb0d39771798ebb183e7175f8310a1f21f57efb3a57ff271ddd4c3f452df38ae762737971c34b8b058f789ba16087";
    const SIGNATURE_1: &str = "3046022100dfe1d87fb3e1b99028aaeed2ca0474a1c1ea822ebb8439533a1a749f40ab843f022100c59f88bf785c05ca19641f317e837b453a744d99122f637319abf54d570d5de6";
    const EXCHANGE_1: &str = "04850888c6f974cc279158591c91cb6720b7664a2743644eae5246c80e04fb5caab8ad1e3b891b89f8fea6ab77c6682e4c5f73d56097b603772437cd521cdb514b";

    #[test]
    fn both_sides_of_a_seeded_key_exchange_agree() {
        for algorithm in [KeyExchangeAlgorithm::X25519, KeyExchangeAlgorithm::P256] {
            let (a, b) = (
                SeededProvider::new(1).expect("ring"),
                SeededProvider::new(2).expect("ring"),
            );
            let x = a.crypto().start_key_exchange(algorithm).expect("started");
            let y = b.crypto().start_key_exchange(algorithm).expect("started");
            let (x_public, y_public) = (x.public_key().to_vec(), y.public_key().to_vec());
            let one = x.complete(&y_public).expect("agreed");
            let two = y.complete(&x_public).expect("agreed");
            assert_eq!(one.as_ref(), two.as_ref(), "{algorithm:?}");
        }
    }
}
