//! End-to-end encryption of chat messages between contacts, so the relay sees only ciphertext.
//!
//! SimpleX uses a double ratchet; the simulation needs only its effect on the relay: bodies it
//! cannot read. Each pair of contacts gets an AES-256-GCM key derived from the world's seed.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The cipher of one pair of contacts.
#[derive(Clone)]
pub(crate) struct PairCipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for PairCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairCipher")
    }
}

impl PairCipher {
    /// The key of contacts `a` and `b` (either order) in a world seeded with `seed`.
    pub(crate) fn for_pair(seed: u64, a: usize, b: usize) -> Self {
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (lo << 40) ^ (hi << 20) ^ 0x5EED);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        PairCipher {
            aead: Aes256Gcm::new(&key.into()),
        }
    }

    /// Encrypts a message body: base64 of nonce and ciphertext.
    pub(crate) fn seal(&self, rng: &mut impl RngCore, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut wire = nonce.to_vec();
        wire.extend_from_slice(&sealed);
        STANDARD.encode(wire)
    }

    /// Decrypts what [`PairCipher::seal`] made; `None` if it is not that.
    pub(crate) fn open(&self, text: &str) -> Option<String> {
        let wire = STANDARD.decode(text).ok()?;
        if wire.len() < 12 {
            return None;
        }
        let (nonce, sealed) = wire.split_at(12);
        let plain = self.aead.decrypt(Nonce::from_slice(nonce), sealed).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pair_can_open_its_messages() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ab = PairCipher::for_pair(7, 0, 1);
        let sealed = ab.seal(&mut rng, r#"{"event":"x.call.inv"}"#);
        assert!(!sealed.contains("x.call"));
        assert_eq!(
            PairCipher::for_pair(7, 1, 0).open(&sealed).as_deref(),
            Some(r#"{"event":"x.call.inv"}"#)
        );
        assert_eq!(PairCipher::for_pair(7, 0, 2).open(&sealed), None);
        assert_eq!(PairCipher::for_pair(8, 0, 1).open(&sealed), None);
        assert_eq!(ab.open("not base64 !"), None);
    }
}
