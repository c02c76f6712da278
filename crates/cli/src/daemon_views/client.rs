//! Talking to the local gnomond over its control socket.
//!
//! Owns finding the socket (`--socket`, `GNOMON_SOCKET`, or the default path), one
//! request/response exchange with a timeout, and turning failures into messages that
//! say what to do. The CLI is not the daemon: std's Unix sockets are fine here.

use gnomon_daemon::control::protocol::{Request, Response, ResponseData};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Send `request` to the daemon at `socket` and return its data, or a message.
pub fn ask(socket: &Path, request: &Request) -> Result<ResponseData, String> {
    let mut stream = UnixStream::connect(socket).map_err(|error| {
        format!(
            "cannot reach gnomond at {}: {error} (is it running? use --socket PATH or GNOMON_SOCKET \
             if its bindcmdaddress is elsewhere)",
            socket.display()
        )
    })?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|error| format!("{}: {error}", socket.display()))?;
    let mut line = serde_json::to_vec(request).expect("requests serialise");
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|error| format!("{}: sending the request failed: {error}", socket.display()))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|error| format!("{}: no answer from gnomond: {error}", socket.display()))?;
    match serde_json::from_str::<Response>(&answer) {
        Ok(Response::Ok { data, .. }) => Ok(data),
        Ok(Response::Error { error, .. }) => Err(format!("gnomond: {error}")),
        Err(error) => Err(format!(
            "{}: unexpected answer ({error}): {}",
            socket.display(),
            answer.trim()
        )),
    }
}
