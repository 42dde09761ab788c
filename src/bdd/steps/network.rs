//! `Given` / `When`: the network. A `Given` sets it up before the call, a `When` changes it
//! during the scenario; before the world runs, changes wait for it.

use callsim_engine::io::MessageKind;
use callsim_sim::World;
use callsim_sim::world::Loss;

use super::rate;
use crate::bdd::language::{Args, Keyword, Mode, StepDef};
use crate::bdd::{ScenarioState, StepResult};

/// This domain's steps.
pub(super) fn defs() -> Vec<StepDef> {
    vec![
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the link between Alice and the relay has N ms latency",
            example: "the link between Alice and the relay has 200 ms latency",
            meaning: "one-way latency of that link",
            pattern: r"^the link between ([A-Z][a-z]+) and the relay has (\S+) ms latency$",
            mode: Mode::Change,
            run: relay_latency,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the link between Alice and the relay loses P% of packets",
            example: "the link between Alice and the relay loses 10% of packets",
            meaning: "random loss on that link",
            pattern: r"^the link between ([A-Z][a-z]+) and the relay loses (\S+)% of packets$",
            mode: Mode::Change,
            run: relay_loss,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "media between Alice and Bob has N ms latency",
            example: "media between Alice and Bob has 100 ms latency",
            meaning: "one-way latency of the media path, direct or through TURN",
            pattern: r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) has (\S+) ms latency$",
            mode: Mode::Change,
            run: media_latency,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "media between Alice and Bob loses P% of packets",
            example: "media between Alice and Bob loses 5% of packets",
            meaning: "random loss on the media path",
            pattern: r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses (\S+)% of packets$",
            mode: Mode::Change,
            run: media_loss,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "media between Alice and Bob loses packets in bursts of N",
            example: "media between Alice and Bob loses packets in bursts of 4",
            meaning: "bursty loss (mean burst length N)",
            pattern: r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) loses packets in bursts of (\S+)$",
            mode: Mode::Change,
            run: media_bursts,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the link between Alice and the relay goes down / comes back",
            example: "the link between Alice and the relay goes down",
            meaning: "a partition of that link starts / ends",
            pattern: r"^the link between ([A-Z][a-z]+) and the relay (goes down|comes back)$",
            mode: Mode::Change,
            run: relay_link,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "media between Alice and Bob is blocked / is unblocked",
            example: "media between Alice and Bob is blocked",
            meaning: "the media path drops everything / recovers, whichever way it goes",
            pattern: r"^media between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$",
            mode: Mode::Change,
            run: media_blocked,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the direct path between Alice and Bob is blocked / is unblocked",
            example: "the direct path between Alice and Bob is blocked",
            meaning: "callsim's own: only packets sent straight between the two phones, as a NAT or firewall would; relayed media is untouched",
            pattern: r"^the direct path between ([A-Z][a-z]+) and ([A-Z][a-z]+) is (blocked|unblocked)$",
            mode: Mode::Change,
            run: direct_path_blocked,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the relay goes down / comes back / restarts",
            example: "the relay restarts",
            meaning: "relay crash, return, or crash and immediate return",
            pattern: r"^the relay (goes down|comes back|restarts)$",
            mode: Mode::Change,
            run: relay_state,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the relay holds every \"EVENT\" message to Bob",
            example: "the relay holds every \"x.call.answer\" message to Bob",
            meaning: "delay one message kind (e.g. x.call.answer) until released",
            pattern: r#"^the relay holds every "([^"]+)" message to ([A-Z][a-z]+)$"#,
            mode: Mode::Change,
            run: hold,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the relay releases the held messages to Bob",
            example: "the relay releases the held messages to Bob",
            meaning: "the held messages go out, in order",
            pattern: r"^the relay releases the held messages to ([A-Z][a-z]+)$",
            mode: Mode::Change,
            run: release,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "the relay delivers every \"EVENT\" message to Bob twice",
            example: "the relay delivers every \"x.call.offer\" message to Bob twice",
            meaning: "the relay redelivers one message kind (as SMP does after a reconnect); SimpleX's agent drops the copy before the chat core",
            pattern: r#"^the relay delivers every "([^"]+)" message to ([A-Z][a-z]+) twice$"#,
            mode: Mode::Change,
            run: duplicate,
        },
        StepDef {
            keywords: &[Keyword::Given, Keyword::When],
            form: "push notifications to Bob take N seconds",
            example: "push notifications to Bob take 4 seconds",
            meaning: "delay of the push that wakes a phone",
            pattern: r"^push notifications to ([A-Z][a-z]+) take (\S+) seconds?$",
            mode: Mode::Change,
            run: push_delay,
        },
    ]
}

fn relay_latency(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let ms = args.whole(1)?;

    let id = s.phone(&who)?;
    if s.built().is_none() {
        s.setup(&who)?.relay_latency_ms = ms;
    } else {
        s.network(move |world| world.set_relay_latency(id, ms));
    }
    Ok(())
}

fn relay_loss(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let percent = args.number(1)?;

    let (id, rate) = (s.phone(&who)?, rate(percent)?);
    s.network(move |world| world.set_relay_loss(id, rate));
    Ok(())
}

fn media_latency(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let ms = args.whole(2)?;

    let (a, b) = (s.phone(&a)?, s.phone(&b)?);
    s.network(move |world| world.set_media_latency(a, b, ms));
    Ok(())
}

fn media_loss(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let percent = args.number(2)?;

    let (a, b, rate) = (s.phone(&a)?, s.phone(&b)?, rate(percent)?);
    s.media_loss_rate.insert((a.min(b), a.max(b)), rate);
    s.try_network(move |world| world.set_media_loss(a, b, Loss::Random { rate }))
}

fn media_bursts(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let burst = args.whole(2)?;

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
    s.try_network(move |world| world.set_media_loss(a, b, loss))
}

fn relay_link(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let what = args.text(1);

    let id = s.phone(&who)?;
    let up = what == "comes back";
    s.network(move |world| world.set_relay_link(id, up));
    Ok(())
}

fn media_blocked(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let what = args.text(2);

    let (a, b) = (s.phone(&a)?, s.phone(&b)?);
    let blocked = what == "blocked";
    s.network(move |world| world.set_media_blocked(a, b, blocked));
    Ok(())
}

/// Not in steps.md: only the direct path between the phones (a NAT or firewall between them);
/// media relayed through TURN is untouched, unlike `media between ... is blocked`.
fn direct_path_blocked(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let a = args.text(0);
    let b = args.text(1);
    let what = args.text(2);

    let (a, b) = (s.phone(&a)?, s.phone(&b)?);
    let blocked = what == "blocked";
    s.network(move |world| world.set_direct_path_blocked(a, b, blocked));
    Ok(())
}

fn relay_state(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let what = args.text(0);

    match what.as_str() {
        "goes down" => s.network(|world| world.relay_down()),
        "comes back" => s.network(|world| world.relay_up()),
        _ => s.network(|world| world.relay_restart()),
    }
    Ok(())
}

fn hold(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let event = args.text(0);
    let who = args.text(1);

    let id = s.phone(&who)?;
    let kind = message_kind(&event)?;
    s.network(move |world| world.hold(id, kind));
    Ok(())
}

fn release(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);

    let id = s.phone(&who)?;
    s.network(move |world| world.release(id));
    Ok(())
}

fn duplicate(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let event = args.text(0);
    let who = args.text(1);

    let id = s.phone(&who)?;
    let kind = message_kind(&event)?;
    s.network(move |world| world.duplicate(id, kind));
    Ok(())
}

fn push_delay(s: &mut ScenarioState, args: &Args<'_>) -> StepResult {
    let who = args.text(0);
    let seconds = args.whole(1)?;
    let s_ms = s.duration(seconds, 1000)?;
    let id = s.phone(&who)?;
    if s.built().is_none() {
        s.setup(&who)?.push_delay_ms = s_ms;
    } else {
        s.network(move |world| world.set_push_delay(id, s_ms));
    }
    Ok(())
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
