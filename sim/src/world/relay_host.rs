//! The relay host: SMP's rules ([`callsim_mocks::relay::Relay`]) behind a TCP line protocol.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tracing::debug;
use turmoil::net::{TcpListener, TcpStream};

use super::shared::{SharedWorld, lock, now_ms};
use super::wire::{ClientFrame, RELAY_PORT, RelayFrame};

/// The relay's software: listens, and serves each connection until it closes. It runs again
/// after a restart; the queues live in the world, so a restart loses nothing.
pub(crate) async fn run(world: SharedWorld) -> turmoil::Result {
    lock(&world).relay_started(now_ms());
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), RELAY_PORT)).await?;
    let mut conn = 0;
    loop {
        let (stream, _) = listener.accept().await?;
        conn += 1;
        tokio::spawn(serve(world.clone(), stream, conn));
    }
}

async fn serve(world: SharedWorld, stream: TcpStream, conn: u64) {
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<RelayFrame>();
    let client = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let writer_client = std::sync::Arc::clone(&client);
    let writer_world = world.clone();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let id = writer_client.load(std::sync::atomic::Ordering::Relaxed);
            let delay = lock(&writer_world).relay_link_delay(id);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut line = serde_json::to_string(&frame).unwrap_or_default();
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(read).lines();
    let mut me = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let frame = match serde_json::from_str::<ClientFrame>(&line) {
            Ok(frame) => frame,
            Err(error) => {
                debug!(%error, "relay: bad frame dropped");
                continue;
            }
        };
        let now = now_ms();
        match (frame, me) {
            (ClientFrame::Sub { client: id }, _) => {
                me = Some(id);
                client.store(id, std::sync::atomic::Ordering::Relaxed);
                lock(&world).subscribe(now, id, conn, tx.clone());
            }
            (
                ClientFrame::Send {
                    seq,
                    to,
                    body,
                    notify,
                    event,
                },
                Some(from),
            ) => {
                lock(&world).client_send(now, from, seq, to, body, notify, event);
                let _ = tx.send(RelayFrame::Ok { seq });
            }
            (ClientFrame::Ack { from, id }, Some(to)) => lock(&world).client_ack(now, to, from, id),
            (ClientFrame::Ping, _) => {
                let _ = tx.send(RelayFrame::Pong);
            }
            (_, None) => debug!("relay: frame before SUB dropped"),
        }
    }
    if let Some(id) = me {
        lock(&world).disconnected(now_ms(), id, conn);
    }
    writer.abort();
}
