//! `callsim turn`: a real TURN server (RFC 8656 over UDP, turn-server-proto) on a real
//! interface, for `callsim phone`s and other clients to relay through.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use callsim_sim::rtc::real_turn::{TURN_PASSWORD, TURN_USERNAME, TurnServerConfig};
use callsim_sim::rtc::turn_serve::run_real_blocking;

use super::CliError;

/// The arguments of `callsim turn`.
#[derive(Debug, Clone, clap::Args)]
pub struct TurnArgs {
    /// Where to listen for clients (UDP); port 0 takes one the system picks.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3478")]
    pub listen: SocketAddr,
    /// The address relayed addresses carry, needed when --listen is a wildcard address
    /// (the address peers reach this host by).
    #[arg(long, value_name = "IP")]
    pub external_ip: Option<IpAddr>,
    /// The username clients authenticate with (default: the one SimpleX's apps use).
    #[arg(long, value_name = "NAME", default_value = TURN_USERNAME)]
    pub user: String,
    /// The password clients authenticate with (default: the one SimpleX's apps use).
    #[arg(long, value_name = "PASSWORD", default_value = TURN_PASSWORD)]
    pub password: String,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
    pub stop_after: Option<u64>,
}

/// Runs the server; prints its URL and credentials as the first line on `out`.
pub fn run(args: &TurnArgs, out: &mut impl Write) -> Result<(), CliError> {
    let advertised = match (args.listen.ip(), args.external_ip) {
        (_, Some(ip)) if ip.is_unspecified() => {
            return Err(CliError::Usage(
                "--external-ip must be an address peers can reach, not a wildcard".into(),
            ));
        }
        (listen, Some(_)) if !listen.is_unspecified() => {
            return Err(CliError::Usage(format!(
                "--external-ip is for a wildcard --listen address: relayed addresses on {} \
                 carry {listen} already",
                args.listen
            )));
        }
        (_, Some(ip)) => ip,
        (ip, None) if ip.is_unspecified() => {
            return Err(CliError::Usage(format!(
                "--listen {}: a wildcard address needs --external-ip, the address relayed \
                 addresses carry (the one peers reach this host by)",
                args.listen
            )));
        }
        (ip, None) => ip,
    };
    if args.listen.is_ipv6() != advertised.is_ipv6() {
        return Err(CliError::Usage(format!(
            "--external-ip {advertised} and --listen {} must be of one family (IPv4 or IPv6)",
            args.listen
        )));
    }
    if args.user.is_empty() || args.password.is_empty() {
        return Err(CliError::Usage(
            "--user and --password must not be empty: clients authenticate with them".into(),
        ));
    }
    let users = vec![(args.user.clone(), args.password.clone())];
    let mut listening = false;
    let ready = |addr| {
        listening = true;
        let config = TurnServerConfig {
            addr,
            username: args.user.clone(),
            password: args.password.clone(),
        };
        let relayed = if args.listen.ip().is_unspecified() {
            format!(", relayed addresses on {advertised}")
        } else {
            String::new()
        };
        writeln!(
            out,
            "TURN server listening: {} (user {}, password {}{relayed})",
            config.url(),
            config.username,
            config.password
        )?;
        out.flush()
    };
    let stop_after = args.stop_after.map(Duration::from_millis);
    run_real_blocking(args.listen, advertised, users, stop_after, ready).map_err(|e| {
        if listening {
            CliError::Failed(format!("the TURN server stopped: {e}"))
        } else {
            CliError::Usage(format!("cannot listen on {}: {e}", args.listen))
        }
    })
}
