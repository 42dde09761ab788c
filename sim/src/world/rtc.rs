//! SimRtc and the TURN server inside a turmoil world: each a thin adapter that owns the sockets,
//! reads turmoil's clock, applies the world's media faults to what leaves, and feeds the
//! sans-IO state machine ([`Endpoint`], [`TurnServer`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use callsim_engine::backend::Inbox as _;
use callsim_engine::crypto::MediaPlatform;
use callsim_engine::driver::DriverInbox;
use callsim_engine::io::Input;
use callsim_engine::protocol::Timestamp;
use callsim_mocks::backends::Shared;
use tokio::sync::mpsc;
use tracing::debug;
use turmoil::net::UdpSocket;

use super::shared::{SharedWorld, lock, now_ms};
use crate::rtc::backend::ChannelRtc;
use crate::rtc::endpoint::{Endpoint, EndpointConfig, EndpointOutput, RTC_PORT};
use crate::rtc::real_turn::{FIRST_REAL_RELAY_PORT, REAL_TURN_PORT, TURN_PASSWORD, TURN_USERNAME};
use crate::rtc::turn::{MediaPath, TURN_PORT, TurnServer};
use crate::rtc::turn_serve::{TurnCounters, TurnPlacement, serve};
use crate::rtc::{RtcControl, RtcStats, WrongKey};

/// What a phone's SimRtc task needs.
pub(crate) struct SimRtcTask {
    pub(crate) seed: u64,
    pub(crate) my_ip: IpAddr,
    pub(crate) world: SharedWorld,
    pub(crate) inbox: DriverInbox,
    pub(crate) stats: Shared<RtcStats>,
    pub(crate) encryption: bool,
    pub(crate) wrong_key: WrongKey,
    /// The world has a `turn` host for the relay-only policy.
    pub(crate) turn: bool,
    pub(crate) platform: MediaPlatform,
}

/// The backend, a sender to kill the engine, and the future of its task (to spawn inside the
/// phone's host).
pub(crate) fn sim_rtc(
    task: SimRtcTask,
) -> (
    ChannelRtc,
    mpsc::UnboundedSender<RtcControl>,
    impl Future<Output = ()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let backend = ChannelRtc::new(tx.clone(), Arc::new(task.inbox.clone()));
    (backend, tx, run(task, rx))
}

/// turmoil's clock as the endpoint's time.
fn now() -> Timestamp {
    Timestamp(now_ms())
}

/// A tokio instant (turmoil's clock) for an endpoint deadline.
fn instant_of(at: Timestamp) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_millis(at.0.saturating_sub(now_ms()))
}

async fn run(task: SimRtcTask, mut rx: mpsc::UnboundedReceiver<RtcControl>) {
    let Ok(socket) = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), RTC_PORT)).await else {
        debug!("WebRTC engine could not bind its port");
        return;
    };
    let mut endpoint = Endpoint::new(EndpointConfig {
        seed: task.seed,
        address: SocketAddr::new(task.my_ip, RTC_PORT),
        encryption: task.encryption,
        platform: task.platform,
        turn: task
            .turn
            .then(|| SocketAddr::new(turmoil::lookup("turn"), TURN_PORT)),
    });
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(output) = endpoint.poll_output() {
            match output {
                EndpointOutput::Transmit { to, data } => {
                    if !lock(&task.world).media.drops(task.my_ip, to.ip()) {
                        // turmoil's UDP never blocks; a full buffer on the far side drops.
                        let _ = socket.try_send_to(&data, to);
                    }
                }
                EndpointOutput::Respond { client, response } => {
                    task.inbox.deliver(0, Input::WebRtc { client, response });
                }
            }
        }
        *task.stats.lock() = endpoint.stats().clone();
        // Sleep until the endpoint's next timer, not on a fixed beat: a host wakes only when
        // there is something to do, which is most of what a simulated second costs.
        let wake = endpoint.poll_timeout().map(instant_of);
        tokio::select! {
            biased;
            control = rx.recv() => match control {
                Some(control) => {
                    if task.wrong_key.is_set() {
                        endpoint.use_wrong_key();
                    }
                    endpoint.handle_control(now(), control);
                }
                None => return,
            },
            received = socket.recv_from(&mut buf) => {
                if let Ok((len, from)) = received {
                    endpoint.handle_datagram(now(), from, &buf[..len]);
                }
            }
            () = sleep_until(wake) => endpoint.handle_timeout(now()),
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The world's media paths, as the TURN server applies them.
struct WorldPath<'a>(&'a SharedWorld);

impl MediaPath for WorldPath<'_> {
    fn delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64> {
        lock(self.0).media.delay(from, to)
    }
}

/// [`WorldPath`] for a server that runs on its own task.
struct OwnedWorldPath(SharedWorld);

impl MediaPath for OwnedWorldPath {
    fn delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64> {
        WorldPath(&self.0).delay(from, to)
    }
}

/// The `turn` host's software: the server's control port, a socket per relayed address, and
/// the server in between. `tick_ms` is turmoil's tick: what a hop to or from the host can
/// cost. With `real`, the host also runs a real TURN server (RFC 8656 over UDP, on
/// [`REAL_TURN_PORT`]) for the real stack's phones.
pub(crate) async fn turn_host(
    world: SharedWorld,
    tick_ms: u64,
    real: Option<TurnCounters>,
) -> turmoil::Result {
    let me = turmoil::lookup("turn");
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    if let Some(counters) = real {
        let placement = TurnPlacement {
            advertised: me,
            bind: any,
            first_relay_port: Some(FIRST_REAL_RELAY_PORT),
        };
        let (_, server) = serve::<UdpSocket, _>(
            SocketAddr::new(any, REAL_TURN_PORT),
            placement,
            vec![(TURN_USERNAME.to_owned(), TURN_PASSWORD.to_owned())],
            // As for SimRtc's server below: the hop in costs a tick, the hop out none.
            tick_ms,
            OwnedWorldPath(world.clone()),
            counters,
        )
        .await?;
        tokio::spawn(async move {
            if let Err(error) = server.await {
                debug!(%error, "the real TURN server stopped");
            }
        });
    }
    let control = Arc::new(UdpSocket::bind((any, TURN_PORT)).await?);
    let mut relays: BTreeMap<u16, Arc<UdpSocket>> = BTreeMap::new();
    let (relayed_tx, mut relayed_rx) = mpsc::unbounded_channel::<(u16, SocketAddr, Vec<u8>)>();
    // A packet to this host arrives a tick after it is sent; one from it reaches a phone in
    // the tick it is sent, for this host ticks before the phones (it is added first). So a
    // relayed packet's two hops cost one tick, whichever ends relay
    // (`media_latency_is_the_pairs_whether_relayed_or_direct`).
    let mut server = TurnServer::new(me, tick_ms);
    let mut buf = vec![0u8; 4096];
    loop {
        let new: Vec<u16> = server.ports().filter(|p| !relays.contains_key(p)).collect();
        for port in new {
            let socket = Arc::new(UdpSocket::bind((any, port)).await?);
            tokio::spawn(read_relayed(Arc::clone(&socket), port, relayed_tx.clone()));
            relays.insert(port, socket);
        }
        while let Some(out) = server.poll_transmit() {
            let socket = if out.from_port == TURN_PORT {
                Some(&control)
            } else {
                relays.get(&out.from_port)
            };
            if let Some(socket) = socket {
                let _ = socket.try_send_to(&out.data, out.to);
            }
        }
        let wake = server.poll_timeout().map(instant_of);
        tokio::select! {
            biased;
            received = control.recv_from(&mut buf) => {
                let (len, from) = received?;
                server.handle_datagram(now(), TURN_PORT, from, &buf[..len], &mut WorldPath(&world));
            }
            Some((port, from, data)) = relayed_rx.recv() => {
                server.handle_datagram(now(), port, from, &data, &mut WorldPath(&world));
            }
            () = sleep_until(wake) => server.handle_timeout(now()),
        }
    }
}

async fn read_relayed(
    socket: Arc<UdpSocket>,
    port: u16,
    tx: mpsc::UnboundedSender<(u16, SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 4096];
    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
        if tx.send((port, from, buf[..len].to_vec())).is_err() {
            return;
        }
    }
}
