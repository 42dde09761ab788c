//! Sequence diagrams of a run: Mermaid text and an SVG picture, from the trace.

use serde_json::Value;

use super::TraceRecord;

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

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(*key))?.as_str()
}

/// The items of a diagram with their simulated times: messages through the relay, and what
/// the phones showed.
pub fn timed_items(trace: &[TraceRecord]) -> Vec<(u64, DiagramItem)> {
    let mut items = Vec::new();
    for r in trace {
        let at = secs(r.t);
        let w = &r.what;
        let item = match r.dir {
            "relay" => {
                if let Some(send) = w.get("send") {
                    let event = str_at(send, &["event"]).unwrap_or("?");
                    Some(DiagramItem::Arrow {
                        from: str_at(send, &["from"]).unwrap_or("?").into(),
                        to: "relay".into(),
                        label: format!("{event} {at}"),
                        dashed: false,
                    })
                } else if let Some(deliver) = w.get("deliver") {
                    let event = str_at(deliver, &["event"]).unwrap_or("?");
                    Some(DiagramItem::Arrow {
                        from: "relay".into(),
                        to: str_at(deliver, &["to"]).unwrap_or("?").into(),
                        label: format!("{event} {at}"),
                        dashed: false,
                    })
                } else if let Some(push) = w.get("push") {
                    let event = str_at(push, &["event"]).unwrap_or("?");
                    Some(DiagramItem::Arrow {
                        from: "relay".into(),
                        to: str_at(push, &["to"]).unwrap_or("?").into(),
                        label: format!("push: {event} {at}"),
                        dashed: true,
                    })
                } else if w.get("crashed").is_some() {
                    Some(note("relay", format!("crashed {at}")))
                } else if w.get("started").is_some() && r.t > 0 {
                    Some(note("relay", format!("started {at}")))
                } else {
                    None
                }
            }
            "out" => phone_output(&r.who, w, &at),
            "in" => match str_at(w, &["type"]) {
                Some("user") => {
                    let action = str_at(w, &["value", "type"]).unwrap_or("?");
                    Some(note(&r.who, format!("user: {action} {at}")))
                }
                _ => None,
            },
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

fn note(over: &str, text: String) -> DiagramItem {
    DiagramItem::Note {
        over: over.into(),
        text,
    }
}

fn phone_output(who: &str, w: &Value, at: &str) -> Option<DiagramItem> {
    let kind = str_at(w, &["type"])?;
    let inner = str_at(w, &["value", "type"]).unwrap_or("");
    let text = match (kind, inner) {
        ("callKit", "reportNewIncomingCall") => "CallKit rings".to_owned(),
        ("callKit", "fulfill") => "CallKit action fulfilled".to_owned(),
        ("callKit", "fail") => "CallKit action failed".to_owned(),
        ("ui", "incomingCallShown") => "in-app call view rings".to_owned(),
        ("ui", "alert") => format!(
            "alert: {}: {}",
            str_at(w, &["value", "title"]).unwrap_or(""),
            str_at(w, &["value", "message"]).unwrap_or("")
        ),
        ("ui", "callState") => match str_at(w, &["value", "state"]) {
            Some(state) => state.to_owned(),
            None => "call closed".to_owned(),
        },
        ("chat", "messageError") => {
            format!(
                "message error: {}",
                str_at(w, &["value", "text"]).unwrap_or("")
            )
        }
        _ => return None,
    };
    Some(note(who, format!("{text} {at}")))
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
