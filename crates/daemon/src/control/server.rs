//! The control socket: accepting monitoring clients inside the main poll loop.
//!
//! Owns the listening Unix socket, the open connections (bounded in number, size and
//! age), line framing, and the permission check: commands that change state need
//! root (SO_PEERCRED uid 0). What a request means is the caller's business, through a
//! handler closure. Never blocks: every socket is non-blocking and in the poll set.

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

struct Connection {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    opened_at_ns: i64,
}

/// The listening control socket and its connections.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    connections: Vec<Connection>,
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
            listener,
            path: path.to_owned(),
            connections: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptors to poll: the listener first, then each connection.
    pub fn poll_entries(&self) -> Vec<(RawFd, Readiness)> {
        let mut entries = Vec::with_capacity(1 + self.connections.len());
        entries.push((
            self.listener.raw_fd(),
            Readiness {
                readable: self.connections.len() < MAX_CONNECTIONS,
                ..Readiness::default()
            },
        ));
        for connection in &self.connections {
            let writing = !connection.output.is_empty();
            entries.push((
                connection.stream.raw_fd(),
                Readiness {
                    readable: !writing,
                    writable: writing,
                    ..Readiness::default()
                },
            ));
        }
        entries
    }

    /// Serve what `ready` (in the order of [`Self::poll_entries`]) says is ready.
    pub fn handle_ready(
        &mut self,
        ready: &[Readiness],
        now_monotonic_ns: i64,
        handler: &mut dyn FnMut(&Request, &PeerCredentials) -> Response,
    ) {
        let mut closed = vec![false; self.connections.len()];
        for (index, connection) in self.connections.iter_mut().enumerate() {
            let Some(readiness) = ready.get(index + 1) else {
                continue;
            };
            let expired = now_monotonic_ns - connection.opened_at_ns > CONNECTION_TIMEOUT_NS;
            closed[index] = expired || serve_connection(connection, readiness, handler);
        }
        let mut index = 0;
        self.connections.retain(|_| {
            index += 1;
            !closed[index - 1]
        });
        if ready.first().is_some_and(|r| r.readable) {
            while self.connections.len() < MAX_CONNECTIONS {
                match self.listener.accept() {
                    Ok(stream) => self.connections.push(Connection {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        written: 0,
                        opened_at_ns: now_monotonic_ns,
                    }),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => {
                        tracing::warn!(
                            "control socket {}: accept failed: {error}",
                            self.path.display()
                        );
                        break;
                    }
                }
            }
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
    connection: &mut Connection,
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
