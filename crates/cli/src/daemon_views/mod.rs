//! The chronyc-style views of the local gnomond: tracking, sources, sourcestats,
//! activity, burst, makestep and waitsync; clients and serverstats ([`serving`]);
//! online and offline ([`connectivity`]).
//!
//! Owns these commands' arguments and output choice (chronyc's layout or `--json`,
//! which prints the daemon's data as is). The socket exchange is in [`client`], the
//! layouts in [`render`], chronyc's number formats in [`format`].

pub(crate) mod client;
mod connectivity;
pub mod format;
mod render;
mod serving;
mod waitsync;

use clap::Args;
use gnomon_control::protocol::{Request, ResponseData};
use std::path::PathBuf;

pub use connectivity::{run_connectivity, ConnectivityArgs};
pub use serving::{run_clients, run_serverstats, ClientsArgs};
pub use waitsync::{run_waitsync, WaitsyncArgs};

/// Where the daemon listens; shared by every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct SocketArgs {
    /// gnomond's control socket (its `bindcmdaddress`).
    #[arg(long, global = true, env = "GNOMON_SOCKET", value_name = "PATH",
          default_value = gnomon_config::DEFAULT_COMMAND_SOCKET)]
    pub socket: PathBuf,
}

/// Options of a view.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Print the daemon's data as JSON instead of chronyc's layout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `sources` and `sourcestats`.
#[derive(Debug, Args)]
pub struct VerboseViewArgs {
    /// Add chronyc's legend explaining the columns.
    #[arg(short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// What `gnomon reload` re-reads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReloadWhat {
    /// The `sourcedir` directories' *.sources files.
    Sources,
}

/// Options of `reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// What to reload (chronyc's `reload sources`).
    #[arg(value_enum)]
    pub what: ReloadWhat,
    #[command(flatten)]
    pub view: ViewArgs,
}

/// The views that just ask and print.
#[derive(Debug, Clone, Copy)]
pub enum View {
    Tracking,
    Sources { verbose: bool },
    Sourcestats { verbose: bool },
    Activity,
    Burst,
    Makestep,
    ReloadSources,
}

/// Ask the daemon and print; returns the exit code.
pub fn run_view(socket: &SocketArgs, view: View, json: bool) -> Result<i32, String> {
    let request = match view {
        View::Tracking => Request::Tracking,
        View::Sources { .. } => Request::Sources,
        View::Sourcestats { .. } => Request::Sourcestats,
        View::Activity => Request::Activity,
        View::Burst => Request::Burst,
        View::Makestep => Request::Makestep,
        View::ReloadSources => Request::Reloadsources,
    };
    let data = client::ask(&socket.socket, &request)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).expect("serialisable")
        );
        return Ok(0);
    }
    let text = match (&data, view) {
        (ResponseData::Tracking(report), _) => render::tracking(report),
        (ResponseData::Sources(reports), View::Sources { verbose }) => {
            render::sources(reports, verbose)
        }
        (ResponseData::Sourcestats(stats), View::Sourcestats { verbose }) => {
            render::sourcestats(stats, verbose)
        }
        (ResponseData::Activity(report), _) => render::activity(report),
        (ResponseData::Done(done), _) => format!("200 OK\n{}\n", done.done),
        (other, _) => return Err(format!("unexpected answer from gnomond: {other:?}")),
    };
    print!("{text}");
    Ok(0)
}

/// The daemon could not be asked (unreachable, refused): the message on stderr and,
/// with `--json`, `{"error": MESSAGE}` on stdout so a script reading JSON gets JSON.
/// Returns the exit code, 3 (unknown).
pub fn could_not_ask(message: impl std::fmt::Display, json: bool) -> i32 {
    eprintln!("gnomon: {message}");
    if json {
        println!("{}", serde_json::json!({ "error": message.to_string() }));
    }
    3
}
