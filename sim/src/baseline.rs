//! What a user would otherwise write: a call flow by hand on raw turmoil, for `callsim bench
//! turmoil` to compare with. It does the work of a callsim call and nothing more: two phones
//! and a relay at callsim's 10 ms tick, six end-to-end encrypted signalling messages through
//! the relay over TCP (invitation, offer, answer, two candidate messages, end) with an X25519
//! key agreement, then `talk_ms` of AES-GCM audio frames every 20 ms each way over UDP. No
//! engine, no app logic, no platform fakes, no ICE: the floor of a turmoil call.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use callsim_engine::crypto::{KeyPair, PublicKey};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use turmoil::net::{TcpListener, TcpStream, UdpSocket};

const RELAY_PORT: u16 = 7000;
const MEDIA_PORT: u16 = 5000;
const FRAME_BYTES: usize = 80;
const FRAME_EVERY_MS: u64 = 20;

/// A seeded AES-256-GCM cipher of one pair of contacts.
fn cipher(seed: u64) -> Aes256Gcm {
    let mut key = [0u8; 32];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut key);
    Aes256Gcm::new(&key.into())
}

fn seal(aead: &Aes256Gcm, rng: &mut ChaCha8Rng, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    out.extend(
        aead.encrypt(Nonce::from_slice(&nonce), plain)
            .unwrap_or_default(),
    );
    out
}

fn open(aead: &Aes256Gcm, data: &[u8]) -> Option<Vec<u8>> {
    let (nonce, sealed) = data.split_at_checked(12)?;
    aead.decrypt(Nonce::from_slice(nonce), sealed).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The relay: each phone connects and names itself; every line it sends goes to the other.
async fn relay() -> turmoil::Result {
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), RELAY_PORT)).await?;
    let (a, _) = listener.accept().await?;
    let (b, _) = listener.accept().await?;
    let (ar, mut aw) = a.into_split();
    let (br, mut bw) = b.into_split();
    let forward_a = tokio::spawn(async move {
        let mut lines = BufReader::new(ar).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if bw.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(br).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if aw.write_all(format!("{line}\n").as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = forward_a.await;
    Ok(())
}

/// One phone: the caller sends the invitation, answers the offer and ends; the callee offers.
/// Both send and receive audio for `talk_ms` after the answer.
async fn phone(caller: bool, seed: u64, talk_ms: u64) -> turmoil::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from(caller));
    let aead = cipher(seed);
    // Bound first, so no frame arrives before its socket.
    let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), MEDIA_PORT)).await?;
    let stream = TcpStream::connect(("relay", RELAY_PORT)).await?;
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let keys = KeyPair::generate(&mut rng);
    let send = |rng: &mut ChaCha8Rng, text: String| {
        let sealed = seal(&aead, rng, text.as_bytes());
        format!("{}\n", hex(&sealed))
    };
    let mut receive = async || -> Option<String> {
        let line = lines.next_line().await.ok()??;
        String::from_utf8(open(&aead, &unhex(&line))?).ok()
    };
    let peer = if caller { "bob" } else { "alice" };
    let media_key: [u8; 32];
    if caller {
        let inv = format!("x.call.inv {}", keys.public_key());
        writer.write_all(send(&mut rng, inv).as_bytes()).await?;
        let offer = receive().await.ok_or("no offer")?;
        let their: PublicKey = offer
            .trim_start_matches("x.call.offer ")
            .parse()
            .map_err(|_| "bad key")?;
        media_key = keys.diffie_hellman(&their).0;
        let answer = "x.call.answer sdp".to_owned();
        writer.write_all(send(&mut rng, answer).as_bytes()).await?;
        let extra = "x.call.extra candidates".to_owned();
        writer.write_all(send(&mut rng, extra).as_bytes()).await?;
        receive().await.ok_or("no candidates")?;
    } else {
        let inv = receive().await.ok_or("no invitation")?;
        let their: PublicKey = inv
            .trim_start_matches("x.call.inv ")
            .parse()
            .map_err(|_| "bad key")?;
        media_key = keys.diffie_hellman(&their).0;
        let offer = format!("x.call.offer {}", keys.public_key());
        writer.write_all(send(&mut rng, offer).as_bytes()).await?;
        receive().await.ok_or("no answer")?;
        receive().await.ok_or("no candidates")?;
        let extra = "x.call.extra candidates".to_owned();
        writer.write_all(send(&mut rng, extra).as_bytes()).await?;
    }
    // Media: a frame every 20 ms each way, encrypted with the agreed key.
    let media = Aes256Gcm::new(&media_key.into());
    let to = (turmoil::lookup(peer), MEDIA_PORT);
    let frames = talk_ms / FRAME_EVERY_MS;
    let mut received = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(FRAME_EVERY_MS));
    let mut buf = vec![0u8; 2048];
    let mut sent = 0u64;
    let quiet = tokio::time::sleep(Duration::from_millis(talk_ms + 1_000));
    tokio::pin!(quiet);
    while sent < frames || received < frames {
        tokio::select! {
            _ = tick.tick(), if sent < frames => {
                let frame = [0u8; FRAME_BYTES];
                let sealed = seal(&media, &mut rng, &frame);
                let _ = socket.try_send_to(&sealed, to);
                sent += 1;
            }
            got = socket.recv_from(&mut buf) => {
                let (len, _) = got?;
                if open(&media, &buf[..len]).is_some() {
                    received += 1;
                }
            }
            () = &mut quiet => break,
        }
    }
    if caller {
        let end = "x.call.end".to_owned();
        writer.write_all(send(&mut rng, end).as_bytes()).await?;
    } else {
        receive().await.ok_or("no end")?;
    }
    Ok(received)
}

/// Runs one call on raw turmoil; how many audio frames each side received.
pub fn call(seed: u64, talk_ms: u64) -> Result<[u64; 2], String> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(10))
        .min_message_latency(Duration::from_millis(20))
        .max_message_latency(Duration::from_millis(20))
        .simulation_duration(Duration::from_secs(3_600))
        .build();
    sim.host("relay", relay);
    let received = std::sync::Arc::new(std::sync::Mutex::new([0u64; 2]));
    for (i, (name, caller)) in [("alice", true), ("bob", false)].into_iter().enumerate() {
        let received = received.clone();
        sim.client(name, async move {
            let frames = phone(caller, seed, talk_ms).await?;
            if let Ok(mut r) = received.lock() {
                r[i] = frames;
            }
            Ok(())
        });
    }
    sim.run().map_err(|e| e.to_string())?;
    let frames = *received.lock().map_err(|e| e.to_string())?;
    Ok(frames)
}

/// Steps a turmoil simulation of `hosts` hosts whose software only sleeps, at callsim's 10 ms
/// tick, for `sim_ms`: what turmoil costs by itself. No call flow of as many hosts and as long
/// can run faster under turmoil (`callsim bench turmoil` and `bench sweep` print this floor).
/// Returns the simulated time it ran.
pub fn idle(hosts: usize, sim_ms: u64) -> Result<Duration, String> {
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_millis(sim_ms.saturating_add(1_000)))
        .build();
    for host in 0..hosts {
        sim.client(format!("host{host}"), async {
            tokio::time::sleep(Duration::from_secs(86_400)).await;
            Ok(())
        });
    }
    for _ in 0..sim_ms.div_ceil(10) {
        sim.step().map_err(|e| e.to_string())?;
    }
    Ok(sim.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_simulation_runs_as_long_as_asked() {
        assert_eq!(idle(3, 1_000), Ok(Duration::from_secs(1)));
        assert_eq!(idle(4, 25), Ok(Duration::from_millis(30)), "whole ticks");
    }

    #[test]
    fn a_raw_call_carries_every_frame_both_ways() {
        assert_eq!(call(1, 2_000), Ok([100, 100]));
    }
}
