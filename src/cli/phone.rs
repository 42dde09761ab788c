//! `callsim phone`: one callsim phone (the engine, its app logic and the real WebRTC stack on
//! real UDP) whose relay connection is a line stream, to put against another client.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;

use callsim_engine::protocol::CallMediaType;
use callsim_sim::rtc::real_turn::TurnServerConfig;
use callsim_sim::standalone::{AnswerWith, PhoneOptions, SendFault, run_blocking};

use super::CliError;

/// The arguments of `callsim phone`.
#[derive(Debug, Clone, clap::Args)]
pub struct PhoneArgs {
    /// This phone's owner.
    #[arg(long, default_value = "Alice")]
    pub name: String,
    /// The peer's name, as this phone's contact.
    #[arg(long, default_value = "Bob")]
    pub peer: String,
    /// Seeds the phone's keys and ids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Call the peer at the start, with this media (audio or video); otherwise wait for a
    /// call.
    #[arg(long, value_name = "MEDIA", value_parser = parse_media)]
    pub call: Option<CallMediaType>,
    /// How to answer an incoming call: callkit, app, decline or none.
    #[arg(long, value_name = "HOW", default_value = "callkit", value_parser = parse_answer)]
    pub answer: AnswerWith,
    /// Answer this long after the phone rings (2s, 500ms).
    #[arg(long, value_name = "TIME", default_value = "0s", value_parser = super::parse_time)]
    pub answer_after: u64,
    /// Hang up this long after calling or answering (10s); otherwise wait for the peer.
    #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
    pub hang_up_after: Option<u64>,
    /// CallKit on or off.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub callkit: bool,
    /// China mode: no CallKit, whatever --callkit says.
    #[arg(long)]
    pub china: bool,
    /// Allow peer-to-peer media (SimpleX's "Always use relay" off). Without it the phone is
    /// relay-only, SimpleX's default: its media goes through a TURN server (--turn, or one
    /// the phone starts on --bind).
    #[arg(long)]
    pub direct: bool,
    /// Relay-only ICE: the default; kept for scripts that ask for it.
    #[arg(long, hide = true, conflicts_with = "direct")]
    pub relay_only: bool,
    /// The TURN server relay-only calls use: turn:HOST:PORT (UDP, as webrtc-rs supports);
    /// default: one the phone starts on --bind (`callsim turn` runs one on its own).
    #[arg(long, value_name = "URL", value_parser = parse_turn_url, conflicts_with = "direct")]
    pub turn: Option<SocketAddr>,
    /// The TURN server's username (default: the one SimpleX's apps use).
    #[arg(long, value_name = "NAME", default_value = callsim_sim::rtc::real_turn::TURN_USERNAME, conflicts_with = "direct")]
    pub turn_user: String,
    /// The TURN server's password (default: the one SimpleX's apps use).
    #[arg(long, value_name = "PASSWORD", default_value = callsim_sim::rtc::real_turn::TURN_PASSWORD, conflicts_with = "direct")]
    pub turn_password: String,
    /// The address to gather host candidates on (the interface a peer reaches this host by).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The UDP ports the media socket may take, LOW-HIGH (the first free one); default any.
    #[arg(long, value_name = "LOW-HIGH", value_parser = parse_ports)]
    pub ports: Option<(u16, u16)>,
    /// Give up if the call has not ended this long after the start (60s).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = super::parse_time)]
    pub timeout: u64,
    /// Messages on stdin and stdout (the default).
    #[arg(long, conflicts_with_all = ["listen", "connect"])]
    pub stdio: bool,
    /// Messages over a TCP connection accepted on this address, one line each way.
    #[arg(long, value_name = "ADDR", conflicts_with = "connect")]
    pub listen: Option<SocketAddr>,
    /// Messages over a TCP connection to this address, one line each way.
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<SocketAddr>,
    /// What the exit status checks: connect (the call connects and ends), no-connect (it ends
    /// without connecting) or any (it ends); default: connect when calling or answering,
    /// no-connect when declining or not answering.
    #[arg(long, value_name = "OUTCOME", value_enum)]
    pub expect: Option<Expect>,
    /// A script of scenario steps for this phone (`When 3 seconds pass`, `When Bob answers
    /// the call through CallKit`, `Then the call between Alice and Bob connects within 10
    /// seconds`, ...), instead of --call, --answer and --hang-up-after.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["call", "hang_up_after"])]
    pub script: Option<PathBuf>,
    /// Never send messages of this kind (e.g. x.call.answer); repeatable.
    #[arg(long, value_name = "KIND", value_parser = super::call::parse_kind)]
    pub drop: Vec<callsim_engine::io::MessageKind>,
    /// Send messages of this kind late: KIND:TIME (e.g. x.call.offer:3s); repeatable.
    #[arg(long, value_name = "KIND:TIME", value_parser = parse_delay)]
    pub delay: Vec<(callsim_engine::io::MessageKind, u64)>,
    /// Hold messages of this kind until --release-after (forever without it); repeatable.
    #[arg(long, value_name = "KIND", value_parser = super::call::parse_kind)]
    pub hold: Vec<callsim_engine::io::MessageKind>,
    /// Send what --hold kept back this long after the start, in order.
    #[arg(long, value_name = "TIME", value_parser = super::parse_time, requires = "hold")]
    pub release_after: Option<u64>,
    /// Lose this percentage of the datagrams this phone's WebRTC sends (0 to 100).
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, value_parser = super::call::percent)]
    pub media_loss: f64,
    /// Where events go as JSON lines (default: stderr).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

fn parse_media(text: &str) -> Result<CallMediaType, String> {
    match text {
        "audio" => Ok(CallMediaType::Audio),
        "video" => Ok(CallMediaType::Video),
        _ => Err(format!("takes audio or video, not {text:?}")),
    }
}

fn parse_answer(text: &str) -> Result<AnswerWith, String> {
    match text {
        "callkit" => Ok(AnswerWith::CallKit),
        "app" => Ok(AnswerWith::App),
        "decline" => Ok(AnswerWith::Decline),
        "none" => Ok(AnswerWith::None),
        _ => Err(format!("takes callkit, app, decline or none, not {text:?}")),
    }
}

/// What the exit status checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// The call connects, then ends.
    Connect,
    /// The call ends without connecting.
    NoConnect,
    /// The call ends, connected or not.
    Any,
}

fn parse_delay(text: &str) -> Result<(callsim_engine::io::MessageKind, u64), String> {
    let (kind, time) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("takes KIND:TIME, e.g. x.call.offer:3s, not {text:?}"))?;
    Ok((super::call::parse_kind(kind)?, super::parse_time(time)?))
}

fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("takes LOW-HIGH ports, e.g. 50000-50100, not {text:?}");
    let (low, high) = text.split_once('-').ok_or_else(bad)?;
    let (low, high): (u16, u16) = (
        low.trim().parse().map_err(|_| bad())?,
        high.trim().parse().map_err(|_| bad())?,
    );
    if low == 0 || low > high {
        return Err(bad());
    }
    Ok((low, high))
}

/// A TURN URL as the apps' settings write it: `turn:HOST:PORT`, optionally
/// `?transport=udp`; the host is resolved once, here.
pub(crate) fn parse_turn_url(text: &str) -> Result<SocketAddr, String> {
    let rest = text.strip_prefix("turn:").ok_or_else(|| {
        if text.starts_with("turns:") {
            format!(
                "{text:?}: TURN over TLS is not supported by webrtc-rs 0.21; use turn: over UDP"
            )
        } else {
            format!("takes turn:HOST:PORT, e.g. turn:127.0.0.1:3478, not {text:?}")
        }
    })?;
    let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query
        .split('&')
        .any(|q| q.starts_with("transport=") && q != "transport=udp")
    {
        return Err(format!(
            "{text:?}: only UDP TURN is supported (webrtc-rs 0.21): use ?transport=udp or leave it out"
        ));
    }
    if let Some(other) = query
        .split('&')
        .find(|q| !q.is_empty() && *q != "transport=udp")
    {
        return Err(format!(
            "{text:?}: unknown parameter {other:?}: only ?transport=udp is taken"
        ));
    }
    let has_port = host_port.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.ends_with(':') && port.parse::<u16>().is_ok()
    });
    if !has_port {
        return Err(format!(
            "{text:?}: the port is missing: turn:HOST:PORT, e.g. turn:127.0.0.1:3478"
        ));
    }
    let addresses: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .map_err(|e| format!("{text:?}: cannot resolve {host_port:?}: {e}"))?
        .collect();
    // IPv4 first: the phone gathers on 127.0.0.1 unless --bind says otherwise.
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| format!("{text:?}: {host_port:?} has no address"))
}

fn parse_on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("takes on or off, not {text:?}")),
    }
}

/// Runs `callsim phone`; true if the call did what was asked.
pub fn run(args: &PhoneArgs) -> Result<bool, CliError> {
    if args.name.trim().is_empty() || args.peer.trim().is_empty() || args.name == args.peer {
        return Err(CliError::Usage(
            "--name and --peer must be two different names".into(),
        ));
    }
    // An address this host does not have fails only mid-call otherwise.
    std::net::UdpSocket::bind((args.bind, 0)).map_err(|e| {
        CliError::Usage(format!(
            "--bind {}: not an address of this host ({e})",
            args.bind
        ))
    })?;
    if args.bind.is_ipv6() && !args.direct {
        return Err(CliError::Usage(format!(
            "--bind {}: relay-only calls need IPv4: webrtc-rs 0.21's TURN client asks for IPv4 \
             relayed addresses only; give an IPv4 --bind, or --direct",
            args.bind
        )));
    }
    if args.bind.is_unspecified() && !args.direct && args.turn.is_none() {
        // The phone's own TURN server would hand out relayed addresses on the wildcard,
        // which no peer can reach.
        return Err(CliError::Usage(format!(
            "--bind {}: the phone's own TURN server needs an address peers can reach: give \
             --bind IP (this host's address on the peer's network), --turn URL, or --direct",
            args.bind
        )));
    }
    let script = match &args.script {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                path: path.display().to_string(),
                source,
            })?;
            callsim_sim::standalone::parse_script(&text, &args.name, &args.peer)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
        }
        None => Vec::new(),
    };
    let mut faults: Vec<SendFault> = args.drop.iter().map(|k| SendFault::Drop(*k)).collect();
    faults.extend(args.delay.iter().map(|(k, ms)| SendFault::Delay(*k, *ms)));
    faults.extend(args.hold.iter().map(|k| SendFault::Hold(*k)));
    let scripted = !script.is_empty();
    let options = PhoneOptions {
        name: args.name.clone(),
        peer: args.peer.clone(),
        seed: args.seed,
        call: args.call,
        answer: args.answer,
        answer_after_ms: args.answer_after,
        hang_up_after_ms: args.hang_up_after,
        callkit: args.callkit && !args.china,
        china: args.china,
        relay_only: !args.direct,
        turn: args.turn.map(|addr| TurnServerConfig {
            addr,
            username: args.turn_user.clone(),
            password: args.turn_password.clone(),
        }),
        bind: args.bind,
        timeout_ms: args.timeout,
        expect_connect: match args.expect {
            Some(Expect::Connect) => Some(true),
            Some(Expect::NoConnect) => Some(false),
            Some(Expect::Any) => None,
            None if scripted => None,
            None => Some(
                args.call.is_some() || matches!(args.answer, AnswerWith::CallKit | AnswerWith::App),
            ),
        },
        script,
        faults,
        media_loss_pct: args.media_loss,
        release_after_ms: args.release_after,
        ports: args.ports,
        ..PhoneOptions::default()
    };
    let (input, output): Stream = match (args.listen, args.connect) {
        (Some(address), _) => {
            let listener = TcpListener::bind(address)
                .map_err(|e| CliError::Usage(format!("cannot listen on {address}: {e}")))?;
            let local = listener.local_addr().map_or(address, |a| a);
            eprintln!(
                "{}",
                serde_json::json!({"type": "listening", "address": local.to_string()})
            );
            let (stream, _) = listener
                .accept()
                .map_err(|e| CliError::Failed(format!("no peer connected on {local}: {e}")))?;
            split(stream)?
        }
        (None, Some(address)) => {
            let stream = TcpStream::connect(address)
                .map_err(|e| CliError::Failed(format!("cannot connect to {address}: {e}")))?;
            split(stream)?
        }
        (None, None) => (
            Box::new(BufReader::new(std::io::stdin())),
            Box::new(std::io::stdout()),
        ),
    };
    let to_file = args.events.is_some();
    let events: Box<dyn Write + Send> = match &args.events {
        Some(path) => {
            Box::new(
                std::fs::File::create(path).map_err(|source| CliError::WriteFile {
                    path: path.display().to_string(),
                    source,
                })?,
            )
        }
        None => Box::new(std::io::stderr()),
    };
    let summary = run_blocking(&options, input, output, events).map_err(CliError::Failed)?;
    if to_file {
        let _ = writeln!(
            std::io::stderr(),
            "{}: {}{}",
            args.name,
            summary.outcome,
            if summary.ok { "" } else { " (not as asked)" }
        );
    }
    Ok(summary.ok)
}

/// The phone's line stream: what it reads, where it writes.
type Stream = (Box<dyn BufRead + Send>, Box<dyn Write + Send>);

fn split(stream: TcpStream) -> Result<Stream, CliError> {
    let reader = stream
        .try_clone()
        .map_err(|e| CliError::Failed(format!("cannot use the connection: {e}")))?;
    Ok((Box::new(BufReader::new(reader)), Box::new(stream)))
}
