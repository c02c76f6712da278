//! The control socket: accepting monitoring clients inside the main poll loop.
//!
//! Owns the socket's path, line framing (one JSON request line, one response line
//! per connection, at most [`MAX_REQUEST_BYTES`]), and the permission check: commands
//! that change state need root (SO_PEERCRED uid 0). The connections themselves
//! (bounded in number and age, non-blocking, all in the poll set) are
//! [`super::connections`]'. What a request means is the caller's business, through a
//! handler closure.

use super::connections::{Connection, Connections, Limits};
use super::protocol::{Request, Response, MAX_REQUEST_BYTES};
use crate::sys::fd::Readiness;
use crate::sys::unix::{PeerCredentials, UnixListener, UnixStream};
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// Most simultaneous control connections; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;
/// A connection that has not finished its exchange after this long is dropped.
const CONNECTION_TIMEOUT_NS: i64 = 5_000_000_000;
const LIMITS: Limits = Limits {
    max_connections: MAX_CONNECTIONS,
    // No limit but the free slots.
    max_accepts_per_turn: MAX_CONNECTIONS,
    timeout_ns: CONNECTION_TIMEOUT_NS,
};

/// The listening control socket and its connections.
pub struct ControlServer {
    path: PathBuf,
    connections: Connections<UnixListener>,
}

impl ControlServer {
    /// Listen at `path` (its directory is created), readable and writable by everyone:
    /// monitoring is open to any local user; root-only commands are checked per request.
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let listener = UnixListener::bind(path, 0o666)?;
        Ok(ControlServer {
            path: path.to_owned(),
            connections: Connections::new(listener, LIMITS),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptors to poll: the listener first, then each connection.
    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        self.connections.poll_entries()
    }

    /// Serve what `ready` (in the order of [`Self::poll_entries`]) says is ready.
    pub fn handle_ready(
        &mut self,
        ready: &[Readiness],
        now_monotonic_ns: i64,
        handler: &mut dyn FnMut(&Request, &PeerCredentials) -> Response,
    ) {
        let accept_error =
            self.connections
                .handle_ready(ready, now_monotonic_ns, |connection, readiness| {
                    serve_connection(connection, readiness, handler)
                });
        if let Some(error) = accept_error {
            tracing::warn!(
                "control socket {}: accept failed: {error}",
                self.path.display()
            );
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Read, answer, write. Returns true when the connection is finished.
fn serve_connection(
    connection: &mut Connection<UnixStream>,
    readiness: &Readiness,
    handler: &mut dyn FnMut(&Request, &PeerCredentials) -> Response,
) -> bool {
    if connection.output.is_empty() && (readiness.readable || readiness.error) {
        let mut buffer = [0u8; 1024];
        loop {
            match connection.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(len) => connection.input.extend_from_slice(&buffer[..len]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
            if connection.input.len() > MAX_REQUEST_BYTES {
                break;
            }
        }
        let line_end = connection.input.iter().position(|&b| b == b'\n');
        let response = match line_end {
            Some(end) => answer(&connection.input[..end], &connection.stream, handler),
            None if connection.input.len() > MAX_REQUEST_BYTES => {
                Response::error(format!("request longer than {MAX_REQUEST_BYTES} bytes"))
            }
            None => return false,
        };
        let mut text = serde_json::to_vec(&response).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        text.push(b'\n');
        connection.output = text;
    }
    while connection.written < connection.output.len() {
        match connection
            .stream
            .write(&connection.output[connection.written..])
        {
            Ok(len) => connection.written += len,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    true
}

fn answer(
    line: &[u8],
    stream: &UnixStream,
    handler: &mut dyn FnMut(&Request, &PeerCredentials) -> Response,
) -> Response {
    let request: Request = match serde_json::from_slice(line) {
        Ok(request) => request,
        Err(error) => return Response::error(format!("bad request: {error}")),
    };
    let credentials = match stream.peer_credentials() {
        Ok(credentials) => credentials,
        Err(error) => return Response::error(format!("cannot read peer credentials: {error}")),
    };
    if request.needs_root() && credentials.uid != 0 {
        return Response::error(format!(
            "permission denied: this command changes the daemon and is for root only (you are uid {})",
            credentials.uid
        ));
    }
    handler(&request, &credentials)
}
