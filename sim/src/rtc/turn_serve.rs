//! Runs [`RealTurn`] on sockets: turmoil's simulated UDP inside a world's `turn` host, or
//! tokio's real UDP (`callsim turn`, and the TURN server of `--real-network` calls). One loop
//! for both: the two socket types share the few calls it makes ([`TurnSocket`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use callsim_engine::protocol::Timestamp;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info};

use super::real_turn::{RealTurn, RealTurnOutput};
use super::turn::MediaPath;

/// What the loop needs of a UDP socket.
pub trait TurnSocket: Sized + Send + Sync + 'static {
    /// Binds a socket.
    fn bind_to(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send;
    /// Receives one datagram.
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    /// Sends one datagram without waiting (UDP drops what it cannot send).
    fn send_now(&self, data: &[u8], to: SocketAddr) -> io::Result<usize>;
    /// The bound address.
    fn bound(&self) -> io::Result<SocketAddr>;
}

impl TurnSocket for tokio::net::UdpSocket {
    fn bind_to(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send {
        tokio::net::UdpSocket::bind(addr)
    }
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.recv_from(buf)
    }
    fn send_now(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.try_send_to(data, to)
    }
    fn bound(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

impl TurnSocket for turmoil::net::UdpSocket {
    fn bind_to(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send {
        turmoil::net::UdpSocket::bind(addr)
    }
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.recv_from(buf)
    }
    fn send_now(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.try_send_to(data, to)
    }
    fn bound(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

/// What a running server has done, for tests and reports: relayed addresses handed out, and
/// those still held (a client that closes its call releases its own).
#[derive(Debug, Clone, Default)]
pub struct TurnCounters {
    allocated: Arc<std::sync::atomic::AtomicUsize>,
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl TurnCounters {
    /// Relayed addresses handed out since the start.
    pub fn allocated(&self) -> usize {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Relayed addresses held now.
    pub fn live(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Where the server's sockets go.
#[derive(Debug, Clone, Copy)]
pub struct TurnPlacement {
    /// The address clients and peers reach the host at (relayed addresses carry it).
    pub advertised: IpAddr,
    /// The address sockets bind to (turmoil binds only the unspecified address).
    pub bind: IpAddr,
    /// Relayed ports counted up from here; `None`: ports the system picks.
    pub first_relay_port: Option<u16>,
}

/// A ready server's address, and the future that serves until its sockets fail.
pub async fn serve<S: TurnSocket, P: MediaPath + Send + 'static>(
    listen: SocketAddr,
    placement: TurnPlacement,
    users: Vec<(String, String)>,
    hop_cost_ms: u64,
    path: P,
    counters: TurnCounters,
) -> io::Result<(SocketAddr, impl Future<Output = io::Result<()>> + Send)> {
    let socket = Arc::new(S::bind_to(listen).await?);
    let bound = socket.bound()?;
    let advertised = SocketAddr::new(
        if bound.ip().is_unspecified() {
            placement.advertised
        } else {
            bound.ip()
        },
        bound.port(),
    );
    let turn = RealTurn::new(advertised, &users, hop_cost_ms);
    info!(listen = %advertised, "TURN server listening");
    Ok((advertised, run(turn, socket, placement, path, counters)))
}

async fn run<S: TurnSocket, P: MediaPath>(
    mut turn: RealTurn,
    listen: Arc<S>,
    placement: TurnPlacement,
    mut path: P,
    counters: TurnCounters,
) -> io::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let start = Instant::now();
    let now = || Timestamp(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
    let listen_addr = turn.listen();
    let mut relays: BTreeMap<SocketAddr, (Arc<S>, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    let (relayed_tx, mut relayed_rx) =
        mpsc::unbounded_channel::<(SocketAddr, SocketAddr, Vec<u8>)>();
    let mut next_port = placement.first_relay_port;
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(output) = turn.poll_output() {
            match output {
                RealTurnOutput::Transmit { from, to, data } => {
                    let socket = if from == listen_addr {
                        Some(&listen)
                    } else {
                        relays.get(&from).map(|(socket, _)| socket)
                    };
                    if let Some(socket) = socket {
                        let _ = socket.send_now(&data, to);
                    }
                }
                RealTurnOutput::Allocate(request) => {
                    let port = next_port.unwrap_or(0);
                    // Counted up to the last port, then the system's choice.
                    next_port = next_port.and_then(|p| p.checked_add(1));
                    let bound = if request.family_matches(placement.bind) {
                        match S::bind_to(SocketAddr::new(placement.bind, port)).await {
                            Ok(socket) => socket.bound().ok().map(|b| (socket, b.port())),
                            Err(error) => {
                                debug!(%error, "TURN relayed address could not be bound");
                                None
                            }
                        }
                    } else {
                        None
                    };
                    let relayed = bound.map(|(socket, port)| {
                        let addr = SocketAddr::new(listen_addr.ip(), port);
                        let socket = Arc::new(socket);
                        let reader = tokio::spawn(read_relayed(
                            Arc::clone(&socket),
                            addr,
                            relayed_tx.clone(),
                        ));
                        relays.insert(addr, (socket, reader));
                        counters.allocated.fetch_add(1, Relaxed);
                        counters.live.fetch_add(1, Relaxed);
                        addr
                    });
                    info!(client = %request.client, ?relayed, "TURN allocation");
                    turn.allocated(now(), request, relayed, &mut path);
                }
                RealTurnOutput::Release(addr) => {
                    if let Some((_, reader)) = relays.remove(&addr) {
                        reader.abort();
                        counters.live.fetch_sub(1, Relaxed);
                    }
                }
            }
        }
        let wake = turn
            .poll_timeout()
            .map(|at| start + Duration::from_millis(at.0.min(u64::MAX / 4_000_000)));
        tokio::select! {
            biased;
            received = listen.recv(&mut buf) => match received {
                Ok((len, from)) => {
                    turn.handle_datagram(now(), listen_addr, from, &buf[..len], &mut path);
                }
                // A peer's ICMP error or an interrupted call: UDP goes on.
                Err(error) if passing(&error) => debug!(%error, "TURN receive"),
                Err(error) => return Err(error),
            },
            Some((local, from, data)) = relayed_rx.recv() => {
                turn.handle_datagram(now(), local, from, &data, &mut path);
            }
            () = sleep_until(wake) => turn.handle_timeout(now(), &mut path),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A receive error UDP recovers from: a peer's ICMP error reported on this socket, or an
/// interrupted call.
fn passing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

async fn read_relayed<S: TurnSocket>(
    socket: Arc<S>,
    local: SocketAddr,
    tx: mpsc::UnboundedSender<(SocketAddr, SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv(&mut buf).await {
            Ok((len, from)) => {
                if tx.send((local, from, buf[..len].to_vec())).is_err() {
                    return;
                }
            }
            Err(error) if passing(&error) => debug!(%error, "TURN relayed receive"),
            Err(error) => {
                debug!(%error, %local, "TURN relayed address stops receiving");
                return;
            }
        }
    }
}

/// The path between clients on a real network: what the network does, nothing added.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealNetworkPath;

impl MediaPath for RealNetworkPath {
    fn delay(&mut self, _from: IpAddr, _to: IpAddr) -> Option<u64> {
        Some(0)
    }
}

/// Starts a real TURN server on real UDP at `listen` (port 0: one the system picks) on the
/// ambient tokio runtime, relaying on system-picked ports of the same address. Relayed
/// addresses carry `advertised` when `listen` is a wildcard address. Returns the server's
/// address and its task.
pub async fn spawn_real(
    listen: SocketAddr,
    advertised: IpAddr,
    users: Vec<(String, String)>,
    counters: TurnCounters,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<io::Result<()>>)> {
    let placement = TurnPlacement {
        advertised,
        bind: listen.ip(),
        first_relay_port: None,
    };
    let (addr, server) =
        serve::<tokio::net::UdpSocket, _>(listen, placement, users, 0, RealNetworkPath, counters)
            .await?;
    Ok((addr, tokio::spawn(server)))
}

/// [`spawn_real`] on a runtime of its own, until `stop_after` passes (`None`: until the server
/// fails); `ready` gets the server's address once it listens.
pub fn run_real_blocking(
    listen: SocketAddr,
    advertised: IpAddr,
    users: Vec<(String, String)>,
    stop_after: Option<Duration>,
    ready: impl FnOnce(SocketAddr) -> io::Result<()>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (addr, server) = spawn_real(listen, advertised, users, TurnCounters::default()).await?;
        ready(addr)?;
        match stop_after {
            Some(after) => {
                tokio::time::sleep(after).await;
                Ok(())
            }
            None => server.await.map_err(io::Error::other)?,
        }
    })
}
