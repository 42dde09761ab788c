//! `Given` / `When`: the network. A `Given` sets it up before the call, a `When` changes it
//! during the scenario; before the world runs, changes wait for it.

use callsim_engine::io::MessageKind;
use callsim_sim::world::Loss;
use cucumber::{given, when};

use super::rate;
use crate::bdd::{CallWorld, ScenarioState, StepResult};

/// Applies a network change to the world now, or when it starts. On a running world the
/// step is a `When`: a tick passes and "within" counts from its end.
async fn change(
    w: &mut CallWorld,
    f: impl FnOnce(&mut ScenarioState) -> StepResult + Send + 'static,
) {
    w.run(move |s| {
        f(s)?;
        if s.built().is_some() {
            s.when_done()?;
        }
        Ok(())
    })
    .await;
}

#[given(regex = r"^the link between ([A-Z][a-z]+) and the relay has (\d+) ms latency$")]
#[when(regex = r"^the link between ([A-Z][a-z]+) and the relay has (\d+) ms latency$")]
async fn relay_latency(w: &mut CallWorld, who: String, ms: u64) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        if s.built().is_none() {
            s.setup(&who)?.relay_latency_ms = ms;
        } else {
            s.network(move |world| world.set_relay_latency(id, ms));
        }
        Ok(())
    })
    .await;
}

#[given(
    regex = r"^the link between ([A-Z][a-z]+) and the relay loses (\d+(?:\.\d+)?)% of packets$"
)]
#[when(regex = r"^the link between ([A-Z][a-z]+) and the relay loses (\d+(?:\.\d+)?)% of packets$")]
async fn relay_loss(w: &mut CallWorld, who: String, percent: f64) {
    change(w, move |s| {
        let (id, rate) = (s.phone(&who)?, rate(percent)?);
        s.network(move |world| world.set_relay_loss(id, rate));
        Ok(())
    })
    .await;
}

#[given(regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) has (\d+) ms latency$")]
#[when(regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) has (\d+) ms latency$")]
async fn media_latency(w: &mut CallWorld, a: String, b: String, ms: u64) {
    change(w, move |s| {
        let (a, b) = (s.phone(&a)?, s.phone(&b)?);
        s.network(move |world| world.set_media_latency(a, b, ms));
        Ok(())
    })
    .await;
}

#[given(
    regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses (\d+(?:\.\d+)?)% of packets$"
)]
#[when(
    regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses (\d+(?:\.\d+)?)% of packets$"
)]
async fn media_loss(w: &mut CallWorld, a: String, b: String, percent: f64) {
    change(w, move |s| {
        let (a, b, rate) = (s.phone(&a)?, s.phone(&b)?, rate(percent)?);
        s.media_loss_rate.insert((a.min(b), a.max(b)), rate);
        s.network(move |world| world.set_media_loss(a, b, Loss::Random { rate }));
        Ok(())
    })
    .await;
}

#[given(
    regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses packets in bursts of (\d+)$"
)]
#[when(regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses packets in bursts of (\d+)$")]
async fn media_bursts(w: &mut CallWorld, a: String, b: String, burst: u64) {
    change(w, move |s| {
        let (a, b) = (s.phone(&a)?, s.phone(&b)?);
        if burst == 0 {
            return Err("a burst is at least one packet".into());
        }
        // The loss rate of an earlier "loses P% of packets" step, else 10 %.
        let rate = s
            .media_loss_rate
            .get(&(a.min(b), a.max(b)))
            .copied()
            .unwrap_or(0.1);
        let loss = Loss::Bursty {
            rate,
            mean_burst: burst as f64,
        };
        s.network(move |world| world.set_media_loss(a, b, loss));
        Ok(())
    })
    .await;
}

#[given(regex = r"^the link between ([A-Z][a-z]+) and the relay (goes down|comes back)$")]
#[when(regex = r"^the link between ([A-Z][a-z]+) and the relay (goes down|comes back)$")]
async fn relay_link(w: &mut CallWorld, who: String, what: String) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        let up = what == "comes back";
        s.network(move |world| world.set_relay_link(id, up));
        Ok(())
    })
    .await;
}

#[given(regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$")]
#[when(regex = r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$")]
async fn media_blocked(w: &mut CallWorld, a: String, b: String, what: String) {
    change(w, move |s| {
        let (a, b) = (s.phone(&a)?, s.phone(&b)?);
        let blocked = what == "blocked";
        s.network(move |world| world.set_media_blocked(a, b, blocked));
        Ok(())
    })
    .await;
}

/// Not in steps.md: only the direct path between the phones (a NAT or firewall between them);
/// media relayed through TURN is untouched, unlike `media between ... is blocked`.
#[given(
    regex = r"^the direct path between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$"
)]
#[when(regex = r"^the direct path between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$")]
async fn direct_path_blocked(w: &mut CallWorld, a: String, b: String, what: String) {
    change(w, move |s| {
        let (a, b) = (s.phone(&a)?, s.phone(&b)?);
        let blocked = what == "blocked";
        s.network(move |world| world.set_direct_path_blocked(a, b, blocked));
        Ok(())
    })
    .await;
}

#[given(regex = r"^the relay (goes down|comes back|restarts)$")]
#[when(regex = r"^the relay (goes down|comes back|restarts)$")]
async fn relay_state(w: &mut CallWorld, what: String) {
    change(w, move |s| {
        match what.as_str() {
            "goes down" => s.network(|world| world.relay_down()),
            "comes back" => s.network(|world| world.relay_up()),
            _ => s.network(|world| world.relay_restart()),
        }
        Ok(())
    })
    .await;
}

#[given(regex = r#"^the relay holds every "([^"]+)" message to ([A-Z][a-z]+)$"#)]
#[when(regex = r#"^the relay holds every "([^"]+)" message to ([A-Z][a-z]+)$"#)]
async fn hold(w: &mut CallWorld, event: String, who: String) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        let kind = message_kind(&event)?;
        s.network(move |world| world.hold(id, kind));
        Ok(())
    })
    .await;
}

#[given(regex = r"^the relay releases the held messages to ([A-Z][a-z]+)$")]
#[when(regex = r"^the relay releases the held messages to ([A-Z][a-z]+)$")]
async fn release(w: &mut CallWorld, who: String) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        s.network(move |world| world.release(id));
        Ok(())
    })
    .await;
}

#[given(regex = r#"^the relay delivers every "([^"]+)" message to ([A-Z][a-z]+) twice$"#)]
#[when(regex = r#"^the relay delivers every "([^"]+)" message to ([A-Z][a-z]+) twice$"#)]
async fn duplicate(w: &mut CallWorld, event: String, who: String) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        let kind = message_kind(&event)?;
        s.network(move |world| world.duplicate(id, kind));
        Ok(())
    })
    .await;
}

#[given(regex = r"^push notifications to ([A-Z][a-z]+) take (\d+) seconds?$")]
#[when(regex = r"^push notifications to ([A-Z][a-z]+) take (\d+) seconds?$")]
async fn push_delay(w: &mut CallWorld, who: String, seconds: u64) {
    change(w, move |s| {
        let id = s.phone(&who)?;
        if s.built().is_none() {
            s.setup(&who)?.push_delay_ms = seconds * 1000;
        } else {
            s.network(move |world| world.set_push_delay(id, seconds * 1000));
        }
        Ok(())
    })
    .await;
}

/// The message kind a step names, or an error listing the kinds there are.
fn message_kind(event: &str) -> StepResult<MessageKind> {
    MessageKind::from_tag(event).ok_or_else(|| {
        let kinds: Vec<&str> = MessageKind::ALL.iter().map(|k| k.as_str()).collect();
        format!(
            "\"{event}\" is not a message the relay carries: one of {}",
            kinds.join(", ")
        )
    })
}
