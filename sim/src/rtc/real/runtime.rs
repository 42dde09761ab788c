//! `webrtc::runtime::Runtime`s for [`RealRtc`](super::RealRtc): turmoil's simulated UDP and
//! clock inside a world, and a watch on the peer connection's driver task in both modes.
//!
//! Facts this rests on (see `design/webrtc-in-turmoil.md`):
//! - a turmoil host is a current-thread tokio runtime with a paused clock, so `tokio::spawn`,
//!   `tokio::time` and turmoil's sockets all work from inside the host and nowhere else;
//! - webrtc-rs binds a real `std::net::UdpSocket` itself and builds host candidates from its
//!   address, so the socket handed to [`Runtime::wrap_udp_socket`] is dropped, a turmoil
//!   socket is bound instead, and the real address is mapped to the simulated one in
//!   [`AddressMap`] for the signalling layer to rewrite candidates;
//! - the only task a peer connection spawns is its driver, so a spawned task that ends while
//!   the connection is open is the driver dying (a known webrtc-rs 0.21 failure mode).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::atomic::{AtomicU8, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use tracing::{Instrument, debug};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

/// Decides whether a media datagram from one address to another is lost (the world's loss
/// model, drawn from its seeded RNG).
pub type MediaFaults = Arc<dyn Fn(IpAddr, IpAddr) -> bool + Send + Sync>;

/// Real socket addresses the stack bound, mapped to the simulated addresses that stand for
/// them on turmoil's network.
#[derive(Debug, Clone, Default)]
pub struct AddressMap(Arc<Mutex<BTreeMap<SocketAddr, SocketAddr>>>);

impl AddressMap {
    fn insert(&self, real: SocketAddr, simulated: SocketAddr) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(real, simulated);
        }
    }

    /// The simulated address standing for a real one, if the stack bound it here.
    pub fn simulated(&self, real: SocketAddr) -> Option<SocketAddr> {
        self.0.lock().ok().and_then(|map| map.get(&real).copied())
    }
}

/// The runtime of a peer connection inside a turmoil host.
#[derive(Clone)]
pub struct TurmoilRuntime {
    my_ip: IpAddr,
    addresses: AddressMap,
    faults: Option<MediaFaults>,
    arbiter: Arc<Arbiter>,
}

/// How many times the task that calls into a host's peer connections (the engine) has run:
/// each run may have queued work for the driver. (The readers of remote tracks queue nothing.)
#[derive(Debug, Clone, Default)]
pub struct CallerRuns(Arc<AtomicU64>);

impl CallerRuns {
    /// `future`, counting each of its polls.
    pub fn counted<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        let runs = Arc::clone(&self.0);
        let mut future = Box::pin(future);
        futures::future::poll_fn(move |cx| {
            runs.fetch_add(1, AtomicOrdering::Relaxed);
            future.as_mut().poll(cx)
        })
    }

    fn get(&self) -> u64 {
        self.0.load(AtomicOrdering::Relaxed)
    }
}

/// Makes the driver's pick among its ready branches deterministic.
///
/// The driver of a webrtc-rs peer connection waits in `futures::select!` on its timer, its
/// sockets and its event channel (what the engine asked of the connection), and when several
/// are ready it picks one at random with a thread-local RNG that no seed reaches
/// (`futures-util`'s `random`). Under loss the pick decides which datagram meets which loss
/// draw, so two runs of one seed could part. The timer and the sockets are this runtime's, so
/// it lets at most one kind be ready when the driver polls: none while the engine may have
/// queued work since the driver last ran (its events go first), then the sockets, then the
/// timer. A branch held back wakes the driver again at once, so nothing waits for time to
/// pass: only the order of same-instant work is fixed.
#[derive(Debug, Default)]
struct Arbiter {
    callers: CallerRuns,
    /// `callers` when the driver's current poll began.
    seen: AtomicU64,
    /// The current poll lets the engine's events go first.
    events_first: AtomicBool,
    /// The driver is being polled: only its own sleeps are held back (a sleep another task
    /// waits on, such as `close()`'s time limit, is left alone).
    in_driver: AtomicBool,
    /// The datagrams the sockets hold for the driver.
    queues: Mutex<Vec<std::sync::Weak<SocketQueue>>>,
}

impl Arbiter {
    /// At the start of each driver poll: whether the engine ran since the last one.
    fn begin_poll(&self) {
        let runs = self.callers.get();
        let before = self.seen.swap(runs, AtomicOrdering::Relaxed);
        self.events_first
            .store(runs != before, AtomicOrdering::Relaxed);
    }

    fn sockets_hold_data(&self) -> bool {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .any(|queue| queue.has_data())
    }

    fn socket_may_deliver(&self) -> bool {
        !self.events_first.load(AtomicOrdering::Relaxed)
    }

    fn timer_may_fire(&self) -> bool {
        self.socket_may_deliver() && !self.sockets_hold_data()
    }
}

/// Datagrams a socket's reader took from turmoil, for the driver.
#[derive(Debug, Default)]
struct SocketQueue {
    datagrams: Mutex<std::collections::VecDeque<(Vec<u8>, SocketAddr)>>,
    waker: futures::task::AtomicWaker,
}

impl SocketQueue {
    fn has_data(&self) -> bool {
        !self
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

impl std::fmt::Debug for TurmoilRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TurmoilRuntime({})", self.my_ip)
    }
}

impl TurmoilRuntime {
    /// A runtime for the host at `my_ip`; sockets it wraps record their addresses in
    /// `addresses` and drop what `faults` says is lost. `callers` counts the runs of the tasks
    /// that call into the connection (see the arbiter below).
    pub fn new(
        my_ip: IpAddr,
        addresses: AddressMap,
        faults: Option<MediaFaults>,
        callers: CallerRuns,
    ) -> Self {
        TurmoilRuntime {
            my_ip,
            addresses,
            faults,
            arbiter: Arc::new(Arbiter {
                callers,
                ..Arbiter::default()
            }),
        }
    }
}

struct TaskHandle(tokio::task::JoinHandle<()>);

impl JoinHandle for TaskHandle {
    fn detach(&self) {}

    fn abort(&self) {
        self.0.abort();
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not simulated: callsim runs WebRTC over UDP only"),
    )
}

impl Runtime for TurmoilRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        // The one task a connection spawns is its driver: each of its polls begins a round
        // of the arbiter.
        let arbiter = Arc::clone(&self.arbiter);
        let mut future = future;
        let driver = futures::future::poll_fn(move |cx| {
            arbiter.begin_poll();
            arbiter.in_driver.store(true, AtomicOrdering::Relaxed);
            let polled = future.as_mut().poll(cx);
            arbiter.in_driver.store(false, AtomicOrdering::Relaxed);
            polled
        });
        Box::new(TaskHandle(tokio::spawn(driver)))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let real = socket.local_addr()?;
        drop(socket);
        // turmoil's bind is async in name only; it completes at once or not at all.
        let bound = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .now_or_never()
            .ok_or_else(|| io::Error::other("turmoil UDP bind did not complete"))??;
        let simulated = SocketAddr::new(self.my_ip, bound.local_addr()?.port());
        self.addresses.insert(real, simulated);
        debug!(%real, %simulated, "WebRTC socket mapped");
        let socket = Arc::new(bound);
        let queue = Arc::new(SocketQueue::default());
        self.arbiter
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&queue));
        let reader = tokio::spawn(read_datagrams(Arc::clone(&socket), Arc::clone(&queue)));
        Ok(Arc::new(TurmoilUdpSocket {
            socket,
            local: simulated,
            my_ip: self.my_ip,
            faults: self.faults.clone(),
            queue,
            reader,
            arbiter: Arc::clone(&self.arbiter),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        _listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        Err(unsupported("ICE over TCP"))
    }

    fn connect_tcp<'a>(
        &'a self,
        _remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        Box::pin(async { Err(unsupported("ICE over TCP")) })
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        Box::pin(async move {
            match host.parse::<SocketAddr>() {
                Ok(addr) => Ok(vec![addr]),
                Err(_) => turmoil::net::lookup_host(host)
                    .await
                    .map(|addrs| addrs.collect()),
            }
        })
    }

    fn now(&self) -> std::time::Instant {
        // tokio's clock, which turmoil drives: simulated time, never the wall clock.
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let arbiter = Arc::clone(&self.arbiter);
        let mut sleep = Box::pin(tokio::time::sleep(duration));
        Box::pin(futures::future::poll_fn(move |cx| {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) if !arbiter.in_driver.load(AtomicOrdering::Relaxed) => {
                    Poll::Ready(())
                }
                Poll::Ready(()) if arbiter.timer_may_fire() => Poll::Ready(()),
                Poll::Ready(()) => {
                    // Held back this round: ask for the next one at once.
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }))
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        Box::new(TokioInterval(tokio::time::interval(period)))
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        // The stack never calls this; a harness outside the simulation may.
        futures::executor::block_on(future);
    }

    fn name(&self) -> &'static str {
        "turmoil"
    }
}

struct TokioInterval(tokio::time::Interval);

impl AsyncInterval for TokioInterval {
    fn tick(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.0.tick().map(|_| ()))
    }
}

/// A turmoil UDP socket as webrtc-rs polls it: a reader task takes each datagram from turmoil
/// as it arrives into a queue the driver reads when the [`Arbiter`] lets it.
struct TurmoilUdpSocket {
    socket: Arc<turmoil::net::UdpSocket>,
    local: SocketAddr,
    my_ip: IpAddr,
    faults: Option<MediaFaults>,
    queue: Arc<SocketQueue>,
    reader: tokio::task::JoinHandle<()>,
    arbiter: Arc<Arbiter>,
}

impl Drop for TurmoilUdpSocket {
    fn drop(&mut self) {
        // The reader holds the socket open; it goes with the connection.
        self.reader.abort();
    }
}

async fn read_datagrams(socket: Arc<turmoil::net::UdpSocket>, queue: Arc<SocketQueue>) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
        queue
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((buf[..len].to_vec(), from));
        queue.waker.wake();
    }
}

impl std::fmt::Debug for TurmoilUdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TurmoilUdpSocket({})", self.local)
    }
}

impl AsyncUdpSocket for TurmoilUdpSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn poll_send(&self, _cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let len = transmit.contents.len();
        let to = transmit.destination;
        if self.faults.as_ref().is_some_and(|f| f(self.my_ip, to.ip())) {
            return Poll::Ready(Ok(len));
        }
        // UDP loses what it cannot deliver; an error here must not stop the driver.
        if let Err(error) = self.socket.try_send_to(transmit.contents, to) {
            debug!(%to, %error, "WebRTC datagram not sent");
        }
        Poll::Ready(Ok(len))
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        self.queue.waker.register(cx.waker());
        let mut datagrams = self
            .queue
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if datagrams.is_empty() {
            return Poll::Pending;
        }
        if !self.arbiter.socket_may_deliver() {
            // Held back this round: ask for the next one at once.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some((datagram, from)) = datagrams.pop_front() else {
            return Poll::Pending;
        };
        let len = datagram.len().min(buf.len());
        buf[..len].copy_from_slice(&datagram[..len]);
        *slot = RecvMeta::default();
        slot.len = len;
        slot.stride = len.max(1);
        slot.addr = from;
        slot.dst_ip = None;
        Poll::Ready(Ok(1))
    }
}

/// Stops every task a [`WatchedRuntime`] spawned, at once and without a word: what a killed
/// process does to its peer connection (dropping the handle would leave the driver running).
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<Mutex<Vec<futures::future::AbortHandle>>>);

impl KillSwitch {
    fn register(&self) -> futures::future::AbortRegistration {
        let (handle, registration) = futures::future::AbortHandle::new_pair();
        if let Ok(mut handles) = self.0.lock() {
            handles.push(handle);
        }
        registration
    }

    /// Aborts every task registered so far; their sockets close with them.
    pub fn kill(&self) {
        if let Ok(handles) = self.0.lock() {
            for handle in handles.iter() {
                handle.abort();
            }
        }
    }
}

/// How many extra passes the driver of a relaying connection runs at once after each wake-up.
/// The wake-up's own pass hands the connection what arrived through TURN; the first extra pass
/// hands the connection's answer to the relay client, the second sends it (see
/// [`WatchedRuntime::with_relay_flush`]).
pub const RELAY_FLUSH_PASSES: u8 = 2;

/// How the relay flush's passes are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPass {
    /// A sleep of nothing: inside a world the runtime's arbiter orders it with the driver's
    /// other branches, and the simulated clock stands on whole milliseconds, so it is due at
    /// once.
    ZeroSleep,
    /// A yield, on the real network: tokio rounds a sleep's deadline up to its next
    /// millisecond, so a sleep of nothing could wait up to 1 ms there.
    Yield,
}

/// A runtime that reports when a task it spawned ends on its own: for a peer connection, the
/// driver stopping (on close, or by a bug that leaves the connection "connecting" forever).
/// Its tasks can be killed through its [`KillSwitch`].
#[derive(Clone)]
pub struct WatchedRuntime {
    inner: Arc<dyn Runtime>,
    on_exit: Arc<dyn Fn() + Send + Sync>,
    kill: KillSwitch,
    /// Loss on the sends of the sockets it wraps, for the real network (turmoil's sockets
    /// apply the world's loss themselves): this host's address and the loss.
    send_loss: Option<(IpAddr, MediaFaults)>,
    /// For a connection relaying through TURN: how many of the extra wake-ups
    /// [`Runtime::sleep`] gives the driver, to send what it relayed, ran in a row just before
    /// (see `sleep`).
    relay_flush: Option<(FlushPass, Arc<AtomicU8>)>,
    /// A task this runtime spawned (the driver) is being polled: the flush applies to its
    /// sleeps only, never to a sleep another task waits on (`close()`'s time limit).
    in_spawned: Arc<AtomicBool>,
}

impl std::fmt::Debug for WatchedRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WatchedRuntime({:?})", self.inner)
    }
}

impl WatchedRuntime {
    /// `inner`, calling `on_exit` whenever a spawned task completes (not when killed).
    pub fn new(
        inner: Arc<dyn Runtime>,
        on_exit: Arc<dyn Fn() + Send + Sync>,
        kill: KillSwitch,
    ) -> Self {
        WatchedRuntime {
            inner,
            on_exit,
            kill,
            send_loss: None,
            relay_flush: None,
            in_spawned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The driver of a connection that relays through TURN gets [`RELAY_FLUSH_PASSES`] extra
    /// wake-ups after each one it had, so what it relayed leaves at once (webrtc-rs 0.21 sends
    /// relayed datagrams only on a later wake-up; `docs/dependency-bugs.md`).
    pub fn with_relay_flush(mut self, pass: FlushPass) -> Self {
        self.relay_flush = Some((pass, Arc::new(AtomicU8::new(0))));
        self
    }

    /// The UDP sockets it wraps, at `my_ip`, lose the datagrams `faults` says on the way out
    /// (`callsim phone --media-loss`).
    pub fn with_send_loss(mut self, my_ip: IpAddr, faults: MediaFaults) -> Self {
        self.send_loss = Some((my_ip, faults));
        self
    }
}

impl Runtime for WatchedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        let on_exit = Arc::clone(&self.on_exit);
        let killable = futures::future::Abortable::new(future, self.kill.register());
        // The driver logs inside the span of the phone whose connection it drives.
        let span = tracing::Span::current();
        let watched = async move {
            if killable.await.is_ok() {
                on_exit();
            }
        }
        .instrument(span);
        let in_spawned = Arc::clone(&self.in_spawned);
        let mut watched = Box::pin(watched);
        self.inner
            .spawn(Box::pin(futures::future::poll_fn(move |cx| {
                in_spawned.store(true, AtomicOrdering::Relaxed);
                let polled = watched.as_mut().poll(cx);
                in_spawned.store(false, AtomicOrdering::Relaxed);
                polled
            })))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(match &self.send_loss {
            Some((my_ip, faults)) => Arc::new(LossyUdpSocket {
                inner,
                my_ip: *my_ip,
                faults: Arc::clone(faults),
            }),
            None => inner,
        })
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> std::time::Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        // The driver's loop hands what the connection wrote through TURN to its relay client
        // only after the relay client's own sends of that pass, and hands the connection
        // what arrived through TURN only after both: so a relayed datagram leaves a wake-up
        // late, and an answer to one (an ICE check's response, a DTLS flight) two wake-ups
        // late, the next timer each (~200 ms for DTLS). After any wake-up but these, the
        // driver's sleep is a pass of nothing ([`FlushPass`]), twice in a row: two more
        // passes, now, that answer and send (their timer check finds nothing due); then the
        // full sleep.
        let driver = self.in_spawned.load(AtomicOrdering::Relaxed);
        match &self.relay_flush {
            Some((pass, flushes)) if driver => {
                let done = flushes.swap(0, AtomicOrdering::AcqRel);
                if done >= RELAY_FLUSH_PASSES {
                    return self.inner.sleep(duration);
                }
                let flushes = Arc::clone(flushes);
                // Dropped unfinished, another branch woke the driver, and the count starts
                // again.
                let now = match pass {
                    FlushPass::ZeroSleep => self.inner.sleep(Duration::ZERO),
                    FlushPass::Yield => self.inner.yield_now(),
                };
                Box::pin(async move {
                    now.await;
                    flushes.store(done + 1, AtomicOrdering::Release);
                })
            }
            _ => self.inner.sleep(duration),
        }
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future);
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// A socket that loses some of what it sends, as a lossy link would.
struct LossyUdpSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    my_ip: IpAddr,
    faults: MediaFaults,
}

impl std::fmt::Debug for LossyUdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LossyUdpSocket({:?})", self.inner)
    }
}

impl AsyncUdpSocket for LossyUdpSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if (self.faults)(self.my_ip, transmit.destination.ip()) {
            return Poll::Ready(Ok(transmit.contents.len()));
        }
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sleeps of a relaying connection's driver, in order, each timed: a flush pass takes
    /// no time, a full sleep its whole second. A flush sleep that another branch beats (dropped
    /// before it is done) means a new wake-up, so the count starts again.
    #[tokio::test(start_paused = true)]
    async fn the_relay_flush_gives_two_passes_after_each_wake_up_and_starts_again_when_cut_short() {
        for pass in [FlushPass::ZeroSleep, FlushPass::Yield] {
            flush_passes(pass).await;
        }
    }

    async fn flush_passes(pass: FlushPass) {
        let runtime = WatchedRuntime::new(
            Arc::new(webrtc::runtime::TokioRuntime),
            Arc::new(|| {}),
            KillSwitch::default(),
        )
        .with_relay_flush(pass);
        let second = Duration::from_secs(1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let driver = runtime.clone();
        let _task = runtime.spawn(Box::pin(async move {
            let mut took = Vec::new();
            for cut_short in [false, false, false, false, true, false, false, false] {
                let sleep = driver.sleep(second);
                if cut_short {
                    drop(sleep);
                    continue;
                }
                let start = tokio::time::Instant::now();
                sleep.await;
                took.push(start.elapsed().as_secs());
            }
            let _ = tx.send(took);
        }));
        let took = rx.await.expect("the driver's task ran");
        assert_eq!(took, [0, 0, 1, 0, 0, 0, 1], "{pass:?}");
        // Another task's sleep (such as `close()`'s time limit) is never cut.
        let start = tokio::time::Instant::now();
        runtime.sleep(second).await;
        assert_eq!(start.elapsed(), second, "{pass:?}");
    }
}
