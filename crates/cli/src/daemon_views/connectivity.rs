//! `gnomon offline` and `gnomon online`: chronyc's commands of the same names.
//!
//! Owns their arguments (checked here so a typo is a usage error before the daemon
//! is asked) and chronyc's output: "200 OK", or "503 No such source" with exit status
//! 1 when nothing matched. `--json` prints the daemon's answer.

use super::{client, SocketArgs};
use clap::Args;
use gnomon_control::protocol::{Request, ResponseData, NO_SUCH_SOURCE};
use gnomon_control::source_match::SourceMatch;
use gnomon_control::status::Status;

/// Options of `online` and `offline`.
#[derive(Debug, Args)]
pub struct ConnectivityArgs {
    /// The sources: an address (192.0.2.1), ADDRESS/BITS (192.0.2.0/24, 2001:db8::/32),
    /// MASK/ADDRESS (255.255.255.0/192.0.2.0), or the name of a server/pool line as
    /// configured. Without it, every source, also those not resolved yet.
    #[arg(value_name = "ADDRESS|SUBNET/BITS|NAME")]
    pub address: Option<String>,
    /// Print the daemon's answer as JSON instead of chronyc's "200 OK".
    #[arg(long)]
    pub json: bool,
}

/// Ask the daemon to switch the sources; returns the exit code.
pub fn run_connectivity(
    socket: &SocketArgs,
    online: bool,
    args: &ConnectivityArgs,
) -> Result<i32, String> {
    SourceMatch::parse(args.address.as_deref())?;
    let address = args.address.clone();
    let request = if online {
        Request::Online { address }
    } else {
        Request::Offline { address }
    };
    match client::ask(&socket.socket, &request) {
        Ok(data @ ResponseData::Done(_)) => {
            if args.json {
                let text = serde_json::to_string_pretty(&data).expect("serialisable");
                println!("{text}");
            } else {
                println!("200 OK");
            }
            Ok(0)
        }
        Ok(other) => {
            eprintln!("gnomon: unexpected answer from gnomond: {other:?}");
            Ok(3)
        }
        Err(error) if error.status == Some(Status::NoSuchSource) => {
            if args.json {
                println!("{}", serde_json::json!({ "error": NO_SUCH_SOURCE }));
            } else {
                println!("503 No such source");
            }
            Ok(1)
        }
        Err(message) => Ok(super::could_not_ask(&message, args.json)),
    }
}
