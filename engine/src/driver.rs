//! The async driver: runs one [`Phone`] against its backends on tokio (feature `driver`).
//!
//! It feeds inputs to the phone, drains its outputs to the backends, and arms the phone's next
//! deadline with `tokio::time`, so it runs the same under tokio's paused clock, under turmoil,
//! and on the wall clock. Backends report back through a [`DriverInbox`]; the driver turns
//! each delivery into an input at the time asked for. Everything runs in one task, in order:
//! the phone sees one input at a time.
//!
//! ```text
//! let (inbox, receiver) = driver::channel();
//! let backends = Backends { callkit: Box::new(..built with inbox..), .. };
//! let driver = Driver::new(phone, backends, receiver, epoch);
//! let task = tokio::spawn(driver.run());   // a DriverReport with the Phone, after shutdown
//! inbox.deliver(0, Input::User(..));        // what the user does
//! inbox.shutdown();
//! ```

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
// tokio's clock: simulated under turmoil or a paused runtime, the wall clock only in real runs.
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, debug, error};

pub use crate::backend::Backends;
use crate::backend::Inbox;
use crate::io::callkit::{CallKitCommand, CallKitError, CallKitEvent};
use crate::io::webrtc::WebRtcResponse;
use crate::io::{Input, Output};
use crate::phone::Phone;
use crate::protocol::Timestamp;

impl std::fmt::Debug for dyn Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

#[derive(Debug)]
enum Message {
    Input { after_ms: u64, input: Input },
    Shutdown,
}

/// The sending side of a driver: backends deliver inputs through it, tests and users too.
#[derive(Debug, Clone)]
pub struct DriverInbox {
    tx: mpsc::UnboundedSender<Message>,
}

impl DriverInbox {
    /// Stops the driver after the inputs already delivered; `run` then returns the phone.
    pub fn shutdown(&self) {
        // A driver that already stopped needs no shutdown.
        let _ = self.tx.send(Message::Shutdown);
    }
}

impl Inbox for DriverInbox {
    fn deliver(&self, after_ms: u64, input: Input) {
        if self.tx.send(Message::Input { after_ms, input }).is_err() {
            debug!("input for a stopped driver dropped");
        }
    }
}

/// The receiving side of a driver, handed to [`Driver::new`].
#[derive(Debug)]
pub struct DriverReceiver {
    rx: mpsc::UnboundedReceiver<Message>,
}

/// A new inbox and the receiver its driver reads.
pub fn channel() -> (DriverInbox, DriverReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (DriverInbox { tx }, DriverReceiver { rx })
}

/// A driven phone, readable while its driver runs (between steps of a simulation).
pub type SharedPhone = Arc<Mutex<Phone>>;

/// Locks a shared phone; a panic elsewhere does not make its state unreadable.
pub fn lock(phone: &SharedPhone) -> MutexGuard<'_, Phone> {
    phone.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Sees every input and output of a driven phone, in order, for traces.
pub trait Tracer: Send {
    /// An input, before the phone handles it.
    fn input(&mut self, now: Timestamp, input: &Input);
    /// An output, before it is dispatched.
    fn output(&mut self, now: Timestamp, output: &Output);
}

/// What a driver leaves when it stops.
#[derive(Debug)]
pub struct DriverReport {
    /// The phone, for inspection.
    pub phone: Phone,
    /// How often a backend panicked (each became an error input or was logged).
    pub backend_panics: u64,
}

/// Runs a phone against its backends.
#[derive(Debug)]
pub struct Driver {
    phone: SharedPhone,
    tracer: Option<Box<dyn Tracer>>,
    backends: Backends,
    rx: mpsc::UnboundedReceiver<Message>,
    /// Inputs delivered with a delay, by due time and arrival order.
    delayed: BTreeMap<(Instant, u64), Input>,
    seq: u64,
    origin: Instant,
    epoch: Timestamp,
    deadline: Option<Timestamp>,
    backend_panics: u64,
}

impl Driver {
    /// A driver whose clock reads `epoch` now.
    pub fn new(
        phone: Phone,
        backends: Backends,
        receiver: DriverReceiver,
        epoch: Timestamp,
    ) -> Self {
        Driver::with_shared_phone(Arc::new(Mutex::new(phone)), backends, receiver, epoch)
    }

    /// A driver of a phone whose handle the caller keeps (a world creates it before the
    /// driver, which must be built inside its runtime so that its clock is the simulated one).
    pub fn with_shared_phone(
        phone: SharedPhone,
        backends: Backends,
        receiver: DriverReceiver,
        epoch: Timestamp,
    ) -> Self {
        Driver {
            phone,
            tracer: None,
            backends,
            rx: receiver.rx,
            delayed: BTreeMap::new(),
            seq: 0,
            origin: Instant::now(),
            epoch,
            deadline: None,
            backend_panics: 0,
        }
    }

    /// A handle to the phone, to read its state while the driver runs.
    pub fn phone(&self) -> SharedPhone {
        Arc::clone(&self.phone)
    }

    /// Reports every input and output to `tracer`.
    pub fn with_tracer(mut self, tracer: Box<dyn Tracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Runs until [`DriverInbox::shutdown`] (or until every inbox is dropped).
    pub async fn run(mut self) -> DriverReport {
        let name = lock(&self.phone).config().name.clone();
        let span = tracing::info_span!("phone", name = %name);
        async move {
            loop {
                let wake = self.next_wake();
                tokio::select! {
                    biased;
                    message = self.rx.recv() => match message {
                        Some(Message::Input { after_ms: 0, input }) => self.feed(input),
                        Some(Message::Input { after_ms, input }) => {
                            self.seq += 1;
                            let due = Instant::now() + Duration::from_millis(after_ms);
                            self.delayed.insert((due, self.seq), input);
                        }
                        Some(Message::Shutdown) | None => break,
                    },
                    () = sleep_until(wake) => self.fire_due(),
                }
            }
            if self.backend_panics > 0 {
                error!(
                    panics = self.backend_panics,
                    "backends panicked during the run"
                );
            }
            DriverReport {
                phone: lock(&self.phone).clone(),
                backend_panics: self.backend_panics,
            }
        }
        .instrument(span)
        .await
    }

    fn now(&self) -> Timestamp {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        self.epoch
            .add_ms(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    fn instant_of(&self, at: Timestamp) -> Instant {
        self.origin + Duration::from_millis(at.ms_since(self.epoch))
    }

    /// The earliest of the next delayed input and the phone's deadline (far away if neither).
    fn next_wake(&self) -> Instant {
        let delayed = self.delayed.keys().next().map(|(at, _)| *at);
        let deadline = self.deadline.map(|d| self.instant_of(d));
        match (delayed, deadline) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Instant::now() + Duration::from_secs(86_400 * 365),
        }
    }

    fn fire_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let input = entry.remove();
            self.feed(input);
        }
        if self.deadline.is_some_and(|d| d <= self.now()) {
            self.deadline = None;
            self.feed(Input::Timeout);
        }
    }

    fn feed(&mut self, input: Input) {
        let now = self.now();
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.input(now, &input);
        }
        // Drain under the lock, dispatch after it: a backend may look at the phone.
        let mut outputs = Vec::new();
        {
            let mut phone = lock(&self.phone);
            phone.handle_input(now, input);
            loop {
                match phone.poll_output() {
                    Output::Timeout(deadline) => {
                        self.deadline = deadline;
                        break;
                    }
                    output => outputs.push(output),
                }
            }
        }
        for output in outputs {
            if let Some(tracer) = self.tracer.as_mut() {
                tracer.output(now, &output);
            }
            self.dispatch(now, output);
        }
    }

    fn dispatch(&mut self, now: Timestamp, output: Output) {
        // A broken backend must not take the phone down: its panic becomes what the phone
        // would see if the platform had refused the command.
        let fallback = match &output {
            Output::CallKit(command) => callkit_refusal(command),
            Output::WebRtc { client, .. } => Some(Input::WebRtc {
                client: *client,
                response: WebRtcResponse::Error {
                    message: "webrtc backend failed".into(),
                },
            }),
            _ => None,
        };
        let backends = &mut self.backends;
        if let Err(message) = guard(|| backends.dispatch(now, output)) {
            self.backend_panics += 1;
            error!(%message, "backend panicked");
            if let Some(input) = fallback {
                self.seq += 1;
                self.delayed.insert((Instant::now(), self.seq), input);
            }
        }
    }
}

fn guard(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

/// What CallKit would have answered had it refused `command`.
fn callkit_refusal(command: &CallKitCommand) -> Option<Input> {
    let event = match command {
        CallKitCommand::ReportNewIncomingCall { uuid, .. } => CallKitEvent::IncomingReported {
            uuid: uuid.clone(),
            result: Err(CallKitError::UnknownCall),
        },
        CallKitCommand::RequestStartCall { uuid, .. }
        | CallKitCommand::RequestAnswerCall { uuid }
        | CallKitCommand::RequestEndCall { uuid } => CallKitEvent::TransactionFailed {
            uuid: uuid.clone(),
            error: CallKitError::UnknownCall,
        },
        _ => return None,
    };
    Some(Input::CallKit(event))
}
