//! The typed trace both worlds write, and what is drawn from it: a timeline, Mermaid text and an
//! SVG sequence diagram.

use std::fmt;

use callsim_engine::chat::CoreEvent;
use callsim_engine::io::callkit::CallKitCommand;
use callsim_engine::io::{Input, MessageKind, Output, UiEvent};
use callsim_engine::protocol::Timestamp;
use serde::Serialize;

/// One event of a run, at its simulated time.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRecord {
    /// Simulated milliseconds since the world started.
    pub t: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// What a world records.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TraceEvent {
    /// A phone took an input.
    Input {
        /// The phone's owner.
        phone: String,
        /// The input.
        input: Input,
    },
    /// A phone gave an output (its timeouts are left out).
    Output {
        /// The phone's owner.
        phone: String,
        /// The output.
        output: Output,
    },
    /// The relay stored a message.
    RelaySend {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// What it carries.
        kind: MessageKind,
        /// SMP's notification flag.
        notify: bool,
        /// Its size.
        bytes: usize,
    },
    /// The relay delivered a message.
    RelayDeliver {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// What it carries.
        kind: MessageKind,
        /// The relay's id for it.
        id: u64,
    },
    /// The relay pushed a waiting message to a sleeping phone.
    Push {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// What it carries.
        kind: MessageKind,
        /// How long the push takes.
        delay_ms: u64,
    },
    /// The relay lost a delivery on its way to the phone and moved its queue on (an explorer
    /// fault).
    RelayLost {
        /// Sender.
        from: String,
        /// Recipient.
        to: String,
        /// What it carried.
        kind: MessageKind,
    },
    /// A phone's ACK was lost; the relay delivers the message again (an explorer fault).
    AckLost {
        /// Sender of the message.
        from: String,
        /// The phone whose ACK was lost.
        to: String,
    },
    /// The relay (re)started.
    RelayStarted,
    /// The relay crashed.
    RelayCrashed,
    /// A phone subscribed to its queues.
    Subscribed {
        /// The phone's owner.
        phone: String,
    },
    /// A phone's connection to the relay went away.
    Disconnected {
        /// The phone's owner.
        phone: String,
    },
}

impl TraceRecord {
    /// A record at `t`.
    pub fn new(t: Timestamp, event: TraceEvent) -> Self {
        TraceRecord { t: t.0, event }
    }

    /// The message a phone sent, if this record is one: the phone, the kind and the body.
    pub fn sent(&self) -> Option<(&str, MessageKind, &str)> {
        match &self.event {
            TraceEvent::Output {
                phone,
                output: Output::Send { kind, body, .. },
            } => Some((phone, *kind, body)),
            _ => None,
        }
    }

    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One line for a person: `1.234s Alice <- ...`, `1.234s relay: Alice -> Bob x.call.inv`.
impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Timestamp(self.t);
        match &self.event {
            TraceEvent::Input { phone, input } => write!(f, "{at} {phone} <- {input:?}"),
            TraceEvent::Output { phone, output } => write!(f, "{at} {phone} -> {output:?}"),
            TraceEvent::RelaySend { from, to, kind, .. } => {
                write!(f, "{at} relay: {from} -> {to} {}", kind.as_str())
            }
            TraceEvent::RelayDeliver { from, to, kind, .. } => {
                write!(
                    f,
                    "{at} relay: delivers {} from {from} to {to}",
                    kind.as_str()
                )
            }
            TraceEvent::Push { from, to, kind, .. } => {
                write!(
                    f,
                    "{at} relay: pushes {} from {from} to {to}",
                    kind.as_str()
                )
            }
            TraceEvent::RelayLost { from, to, kind } => {
                write!(f, "{at} relay: loses {} from {from} to {to}", kind.as_str())
            }
            TraceEvent::AckLost { from, to } => {
                write!(f, "{at} relay: loses {to}'s ACK of {from}'s message")
            }
            TraceEvent::RelayStarted => write!(f, "{at} relay: started"),
            TraceEvent::RelayCrashed => write!(f, "{at} relay: crashed"),
            TraceEvent::Subscribed { phone } => write!(f, "{at} relay: {phone} subscribed"),
            TraceEvent::Disconnected { phone } => write!(f, "{at} relay: {phone} disconnected"),
        }
    }
}

/// A trace as JSON lines, one record each.
pub fn jsonl(trace: &[TraceRecord]) -> String {
    let mut out = String::new();
    for record in trace {
        out.push_str(&record.to_json());
        out.push('\n');
    }
    out
}

/// One row of a sequence diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagramItem {
    /// A message from one participant to another.
    Arrow {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
        /// What, and when.
        label: String,
        /// A push (drawn dashed).
        dashed: bool,
    },
    /// A note over a participant.
    Note {
        /// The participant.
        over: String,
        /// The text.
        text: String,
    },
}

fn secs(t: u64) -> String {
    format!("{}.{:03}s", t / 1000, t % 1000)
}

fn note(over: &str, text: String) -> DiagramItem {
    DiagramItem::Note {
        over: over.into(),
        text,
    }
}

fn arrow(from: &str, to: &str, label: String, dashed: bool) -> DiagramItem {
    DiagramItem::Arrow {
        from: from.into(),
        to: to.into(),
        label,
        dashed,
    }
}

/// The name of a value's serde tag (`startCall`), for notes.
fn tag_of(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// What a phone showed, as a note, if it is worth one.
fn phone_output(phone: &str, output: &Output, at: &str) -> Option<DiagramItem> {
    let text = match output {
        Output::CallKit(CallKitCommand::ReportNewIncomingCall { .. }) => "CallKit rings".to_owned(),
        Output::CallKit(CallKitCommand::Fulfill { .. }) => "CallKit action fulfilled".to_owned(),
        Output::CallKit(CallKitCommand::Fail { .. }) => "CallKit action failed".to_owned(),
        Output::Ui(UiEvent::IncomingCallShown { .. }) => "in-app call view rings".to_owned(),
        Output::Ui(UiEvent::Alert { title, message }) => format!("alert: {title}: {message}"),
        Output::Ui(UiEvent::CallState { state, .. }) => match state {
            Some(state) => state.to_string(),
            None => "call closed".to_owned(),
        },
        Output::Chat(CoreEvent::MessageError { text, .. }) => format!("message error: {text}"),
        _ => return None,
    };
    Some(note(phone, format!("{text} {at}")))
}

/// The items of a diagram with their simulated times: messages through the relay, and what
/// the phones showed.
pub fn timed_items(trace: &[TraceRecord]) -> Vec<(u64, DiagramItem)> {
    let mut items = Vec::new();
    for r in trace {
        let at = secs(r.t);
        let item = match &r.event {
            TraceEvent::RelaySend { from, kind, .. } => Some(arrow(
                from,
                "relay",
                format!("{} {at}", kind.as_str()),
                false,
            )),
            TraceEvent::RelayDeliver { to, kind, .. } => {
                Some(arrow("relay", to, format!("{} {at}", kind.as_str()), false))
            }
            TraceEvent::Push { to, kind, .. } => Some(arrow(
                "relay",
                to,
                format!("push: {} {at}", kind.as_str()),
                true,
            )),
            TraceEvent::RelayCrashed => Some(note("relay", format!("crashed {at}"))),
            TraceEvent::RelayLost { to, kind, .. } => Some(note(
                "relay",
                format!("loses {} to {to} {at}", kind.as_str()),
            )),
            TraceEvent::AckLost { to, .. } => Some(note("relay", format!("loses {to}'s ACK {at}"))),
            TraceEvent::RelayStarted if r.t > 0 => Some(note("relay", format!("started {at}"))),
            TraceEvent::Output { phone, output } => phone_output(phone, output, &at),
            TraceEvent::Input {
                phone,
                input: Input::User(action),
            } => Some(note(phone, format!("user: {} {at}", tag_of(action)))),
            _ => None,
        };
        items.extend(item.map(|i| (r.t, i)));
    }
    items
}

/// The items of a diagram, in order.
pub fn items(trace: &[TraceRecord]) -> Vec<DiagramItem> {
    timed_items(trace)
        .into_iter()
        .map(|(_, item)| item)
        .collect()
}

/// The run as readable lines: `  1.234s  Alice -> relay  x.call.inv`.
pub fn timeline(trace: &[TraceRecord]) -> Vec<String> {
    timed_items(trace)
        .into_iter()
        .map(|(t, item)| {
            let at = secs(t);
            match item {
                DiagramItem::Arrow {
                    from, to, label, ..
                } => {
                    let what = label.strip_suffix(&format!(" {at}")).unwrap_or(&label);
                    format!("{at:>10}  {from} -> {to}  {what}")
                }
                DiagramItem::Note { over, text } => {
                    let what = text.strip_suffix(&format!(" {at}")).unwrap_or(&text);
                    format!("{at:>10}  {over}: {what}")
                }
            }
        })
        .collect()
}

fn participants(phones: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    let mut phones = phones.iter();
    all.extend(phones.next().cloned());
    all.push("relay".to_owned());
    all.extend(phones.cloned());
    all
}

/// The run as Mermaid text (`sequenceDiagram`).
pub fn mermaid(phones: &[String], trace: &[TraceRecord]) -> String {
    let mut out = String::from("sequenceDiagram\n");
    for p in participants(phones) {
        out.push_str(&format!("    participant {p}\n"));
    }
    for item in items(trace) {
        match item {
            DiagramItem::Arrow {
                from,
                to,
                label,
                dashed,
            } => {
                let arrow = if dashed { "-->>" } else { "->>" };
                out.push_str(&format!("    {from}{arrow}{to}: {label}\n"));
            }
            DiagramItem::Note { over, text } => {
                out.push_str(&format!("    Note over {over}: {text}\n"));
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The run as an SVG picture: a lifeline per participant, a row per item.
pub fn svg(phones: &[String], trace: &[TraceRecord]) -> String {
    const COLUMN: usize = 220;
    const ROW: usize = 26;
    const TOP: usize = 60;
    let names = participants(phones);
    let items = items(trace);
    let x = |name: &str| {
        let i = names.iter().position(|n| n == name).unwrap_or(0);
        100 + i * COLUMN
    };
    let width = 200 + COLUMN * names.len().saturating_sub(1);
    let height = TOP + ROW * (items.len() + 1) + 20;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" \
         orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#333\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for name in &names {
        let cx = x(name);
        out.push_str(&format!(
            "<rect x=\"{}\" y=\"10\" width=\"120\" height=\"28\" rx=\"4\" fill=\"#e8eef8\" stroke=\"#333\"/>\n\
             <text x=\"{cx}\" y=\"29\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n\
             <line x1=\"{cx}\" y1=\"38\" x2=\"{cx}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n",
            cx - 60,
            escape(name),
            height - 10
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let y = TOP + ROW * (i + 1);
        match item {
            DiagramItem::Arrow {
                from,
                to,
                label,
                dashed,
            } => {
                let (x1, x2) = (x(from), x(to));
                let dash = if *dashed {
                    " stroke-dasharray=\"6 3\""
                } else {
                    ""
                };
                out.push_str(&format!(
                    "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#333\"{dash} marker-end=\"url(#arrow)\"/>\n\
                     <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                    (x1 + x2) / 2,
                    y - 4,
                    escape(label)
                ));
            }
            DiagramItem::Note { over, text } => {
                let cx = x(over);
                let w = 10 + 7 * text.chars().count();
                out.push_str(&format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"18\" fill=\"#fff8c4\" stroke=\"#b8a800\"/>\n\
                     <text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                    cx.saturating_sub(w / 2),
                    y - 13,
                    y,
                    escape(text)
                ));
            }
        }
    }
    out.push_str("</svg>\n");
    out
}
