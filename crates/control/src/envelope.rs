//! One request, one reply, each in one datagram: the envelope around [`Request`] and
//! [`Response`] and the paging of list replies.
//!
//! Owns the fields the transport adds (`version`, the protocol's [`PROTOCOL_VERSION`],
//! on every request and reply; `seq`, echoed so a client can ignore stale replies;
//! `first` and `total` for paging), the size limits, and where a reply's
//! records are: `data` itself when it is an array, otherwise the one field of `data`
//! that holds an array (`clients`'s `clients`, `serverstats`'s `sockets`). A paged
//! reply carries the records from `first` on that fit in [`MAX_REPLY_BYTES`]; a client
//! asks again from where it got to until it has `total`. The daemon and `gnomon` both
//! use this module, so they agree on the rule. See docs/control-protocol.md.

use crate::protocol::{
    ClientList, ClientReport, Request, Response, ResponseData, ServerStatsReport, SourceReport,
    SourceStats,
};
use crate::status::{Status, PROTOCOL_VERSION};
use serde_json::{Map, Value};

/// Longest request datagram the daemon reads; longer ones get an error reply.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// Longest reply datagram: clknetsim carries at most 4000 bytes, so every reply,
/// with its envelope, stays below that.
pub const MAX_REPLY_BYTES: usize = 3900;

/// A decoded request datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestEnvelope {
    pub request: Request,
    /// The client's sequence number, echoed in the reply.
    pub seq: Option<u64>,
    /// The first record wanted of a list reply (0: from the start).
    pub first: usize,
}

/// A request datagram the daemon could not take: what to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The request's `seq`, when it could be read, so the error reply still reaches
    /// the right exchange.
    pub seq: Option<u64>,
    pub status: Status,
    pub message: String,
}

impl RequestError {
    fn bad(seq: Option<u64>, message: impl Into<String>) -> RequestError {
        RequestError {
            seq,
            status: Status::BadRequest,
            message: message.into(),
        }
    }
}

/// A request as the client sends it.
pub fn encode_request(request: &Request, seq: u64, first: usize) -> Vec<u8> {
    let mut value = serde_json::to_value(request).expect("requests serialise");
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), PROTOCOL_VERSION.into());
        map.insert("seq".into(), seq.into());
        if first > 0 {
            map.insert("first".into(), first.into());
        }
    }
    serde_json::to_vec(&value).expect("values serialise")
}

/// Decode a request datagram. A request without `version` is taken as version 1 (the
/// form before versions, still what a person types into `socat`).
pub fn parse_request(bytes: &[u8]) -> Result<RequestEnvelope, RequestError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| RequestError::bad(None, format!("bad request: {error}")))?;
    let Value::Object(mut map) = value else {
        return Err(RequestError::bad(None, "bad request: not a JSON object"));
    };
    let seq = match map.remove("seq") {
        None => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            RequestError::bad(None, "bad request: seq is not a non-negative integer")
        })?),
    };
    if let Some(version) = map.remove("version") {
        if version.as_u64() != Some(u64::from(PROTOCOL_VERSION)) {
            return Err(RequestError {
                seq,
                status: Status::BadVersion,
                message: format!(
                    "control protocol version {version} is not spoken here: this gnomond \
                     speaks version {PROTOCOL_VERSION}"
                ),
            });
        }
    }
    let first = match map.remove("first") {
        None => 0,
        Some(value) => value
            .as_u64()
            .and_then(|first| usize::try_from(first).ok())
            .ok_or_else(|| {
                RequestError::bad(seq, "bad request: first is not a non-negative integer")
            })?,
    };
    let request = serde_json::from_value::<Request>(Value::Object(map))
        .map_err(|error| RequestError::bad(seq, format!("bad request: {error}")))?;
    Ok(RequestEnvelope {
        request,
        seq,
        first,
    })
}

/// The records of a reply's `data`: the array itself, or the object's only array field.
pub fn records_mut(data: &mut Value) -> Option<&mut Vec<Value>> {
    match data {
        Value::Array(records) => Some(records),
        Value::Object(map) => {
            let mut arrays = map.values_mut().filter_map(Value::as_array_mut);
            let only = arrays.next()?;
            arrays.next().is_none().then_some(only)
        }
        _ => None,
    }
}

/// An encoded reply datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub bytes: Vec<u8>,
    /// It was a successful reply and holds the last of its records (or has none):
    /// what asked to be done after the report (`clients -r`) may be done now.
    pub complete: bool,
}

/// Encode `response` for the request numbered `seq`, from record `first` on: every
/// reply fits in [`MAX_REPLY_BYTES`]; one that cannot (a single record too large, a
/// reply without records too large) becomes an error reply, never a truncated one.
/// Only the records sent are serialised, so a page of a long list costs a page.
pub fn encode_reply(response: &Response, seq: Option<u64>, first: usize) -> Page {
    let (records, outline) = match response {
        Response::Ok { ok, status, data } => match Records::of(data) {
            Some(records) => (
                Some(records),
                Response::Ok {
                    ok: *ok,
                    status: *status,
                    data: without_records(data),
                },
            ),
            None => (None, response.clone()),
        },
        Response::Error { .. } => (None, response.clone()),
    };
    let mut value = serde_json::to_value(&outline)
        .unwrap_or_else(|_| error_value(Status::Failed, "unserialisable reply"));
    let ok = matches!(response, Response::Ok { .. });
    insert(&mut value, "version", PROTOCOL_VERSION.into());
    if let Some(seq) = seq {
        insert(&mut value, "seq", seq.into());
    }
    let Some(records) = records else {
        let bytes = to_bytes(&value);
        if bytes.len() > MAX_REPLY_BYTES {
            return error_page(
                seq,
                Status::ReplyTooLarge,
                format!(
                    "the reply is {} bytes, more than one reply datagram holds ({MAX_REPLY_BYTES})",
                    bytes.len()
                ),
            );
        }
        return Page {
            bytes,
            complete: ok,
        };
    };
    let total = records.len();
    let start = first.min(total);
    insert(&mut value, "first", start.into());
    insert(&mut value, "total", total.into());
    // Compact JSON sizes add up: `[a,b]` is 2 + |a| + 1 + |b|, and the envelope's
    // size with an empty array is measured as is.
    let mut size = to_bytes(&value).len();
    let mut page = Vec::new();
    for index in start..total {
        let record = records.value(index);
        let len = to_bytes(&record).len() + usize::from(!page.is_empty());
        if size + len > MAX_REPLY_BYTES {
            if page.is_empty() {
                return error_page(
                    seq,
                    Status::ReplyTooLarge,
                    format!(
                        "record {start} of the reply is {len} bytes, more than one reply \
                         datagram holds ({MAX_REPLY_BYTES})"
                    ),
                );
            }
            break;
        }
        size += len;
        page.push(record);
    }
    let end = start + page.len();
    if let Some(slot) = value.get_mut("data").and_then(records_mut) {
        *slot = page;
    }
    let bytes = to_bytes(&value);
    debug_assert!(bytes.len() <= MAX_REPLY_BYTES, "{} bytes", bytes.len());
    Page {
        bytes,
        complete: ok && end >= total,
    }
}

/// The records of a reply, typed: what [`records_mut`] finds in its JSON.
enum Records<'a> {
    Sources(&'a [SourceReport]),
    Sourcestats(&'a [SourceStats]),
    Clients(&'a [ClientReport]),
    Sockets(&'a [String]),
}

impl Records<'_> {
    fn of(data: &ResponseData) -> Option<Records<'_>> {
        match data {
            ResponseData::Sources(list) => Some(Records::Sources(list)),
            ResponseData::Sourcestats(list) => Some(Records::Sourcestats(list)),
            ResponseData::Clients(list) => Some(Records::Clients(&list.clients)),
            ResponseData::Serverstats(stats) => Some(Records::Sockets(&stats.sockets)),
            ResponseData::Tracking(_) | ResponseData::Activity(_) | ResponseData::Done(_) => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Records::Sources(list) => list.len(),
            Records::Sourcestats(list) => list.len(),
            Records::Clients(list) => list.len(),
            Records::Sockets(list) => list.len(),
        }
    }

    fn value(&self, index: usize) -> Value {
        let value = match self {
            Records::Sources(list) => serde_json::to_value(&list[index]),
            Records::Sourcestats(list) => serde_json::to_value(&list[index]),
            Records::Clients(list) => serde_json::to_value(&list[index]),
            Records::Sockets(list) => serde_json::to_value(&list[index]),
        };
        value.unwrap_or(Value::Null)
    }
}

/// `data` with an empty list where its records are.
fn without_records(data: &ResponseData) -> ResponseData {
    match data {
        ResponseData::Sources(_) => ResponseData::Sources(Vec::new()),
        ResponseData::Sourcestats(_) => ResponseData::Sourcestats(Vec::new()),
        ResponseData::Clients(list) => ResponseData::Clients(ClientList {
            serving: list.serving,
            clients: Vec::new(),
        }),
        ResponseData::Serverstats(stats) => ResponseData::Serverstats(ServerStatsReport {
            sockets: Vec::new(),
            ..stats.clone()
        }),
        other => other.clone(),
    }
}

/// The error reply `message`, with `status`, for the request numbered `seq`.
pub fn error_page(seq: Option<u64>, status: Status, message: String) -> Page {
    let with_envelope = |mut value: Value| {
        insert(&mut value, "version", PROTOCOL_VERSION.into());
        if let Some(seq) = seq {
            insert(&mut value, "seq", seq.into());
        }
        to_bytes(&value)
    };
    let mut bytes = with_envelope(error_value(status, &message));
    if bytes.len() > MAX_REPLY_BYTES {
        bytes = with_envelope(error_value(status, "error message too long"));
    }
    Page {
        bytes,
        complete: false,
    }
}

fn error_value(status: Status, message: &str) -> Value {
    serde_json::to_value(Response::error(status, message)).expect("errors serialise")
}

fn insert(value: &mut Value, key: &str, field: Value) {
    if let Value::Object(map) = value {
        map.insert(key.into(), field);
    } else {
        let mut map = Map::new();
        map.insert(key.into(), field);
        *value = Value::Object(map);
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{\"ok\":false}".to_vec())
}

/// A reply datagram as the client reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyEnvelope {
    /// The protocol version the daemon speaks (`None` from one older than versions).
    pub version: Option<u64>,
    pub seq: Option<u64>,
    /// `Some((first, total))` on a paged reply.
    pub page: Option<(usize, usize)>,
    /// `ok`, `status` (left in, see [`ReplyEnvelope::status`]) and `data` or `error`.
    pub response: Value,
}

impl ReplyEnvelope {
    /// The reply's status: `Err(number)` for one this build does not know (from a
    /// newer daemon), `Ok(None)` when the reply has none.
    pub fn status(&self) -> Result<Option<Status>, u64> {
        match self.response.get("status").and_then(Value::as_u64) {
            None => Ok(None),
            Some(code) => Status::from_code(code).map(Some).ok_or(code),
        }
    }
}

/// Decode a reply datagram (the CLI's side).
pub fn parse_reply(bytes: &[u8]) -> Result<ReplyEnvelope, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let Value::Object(mut map) = value else {
        return Err("not a JSON object".into());
    };
    let version = map.remove("version").and_then(|v| v.as_u64());
    let seq = map.remove("seq").and_then(|v| v.as_u64());
    let first = map.remove("first").and_then(|v| v.as_u64());
    let total = map.remove("total").and_then(|v| v.as_u64());
    let page = match (first, total) {
        (Some(first), Some(total)) => Some((first as usize, total as usize)),
        _ => None,
    };
    Ok(ReplyEnvelope {
        version,
        seq,
        page,
        response: Value::Object(map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Activity, Done};

    fn stats(count: usize, name_len: usize) -> Response {
        Response::ok(ResponseData::Sourcestats(
            (0..count)
                .map(|index| SourceStats {
                    name: format!("{index:0name_len$}"),
                    samples: 8,
                    samples_used: 8,
                    residual_runs: 5,
                    span_s: 512.0,
                    frequency_ppm: 1.5,
                    skew_ppm: 0.25,
                    offset_s: -1e-6,
                    std_dev_s: 2e-6,
                })
                .collect(),
        ))
    }

    #[test]
    fn the_typed_records_are_where_the_wire_rule_finds_them() {
        let clients = ResponseData::Clients(ClientList {
            serving: true,
            clients: Vec::new(),
        });
        let activity = ResponseData::Activity(Activity {
            online: 1,
            offline: 0,
            burst_online: 0,
            burst_offline: 0,
            unresolved: 0,
        });
        let Response::Ok { data: stats, .. } = stats(3, 4) else {
            unreachable!()
        };
        for data in [clients, activity, stats] {
            let mut value = serde_json::to_value(&data).unwrap();
            let wire = records_mut(&mut value).map(|records| records.len());
            assert_eq!(
                wire,
                Records::of(&data).map(|records| records.len()),
                "{value}"
            );
        }
    }

    #[test]
    fn requests_carry_seq_and_first_beside_the_command() {
        let bytes = encode_request(&Request::Sources, 7, 12);
        assert_eq!(
            bytes,
            br#"{"command":"sources","first":12,"seq":7,"version":1}"#
        );
        let envelope = parse_request(&bytes).unwrap();
        assert_eq!(
            envelope,
            RequestEnvelope {
                request: Request::Sources,
                seq: Some(7),
                first: 12
            }
        );
        // Today's plain request still works.
        assert_eq!(
            parse_request(br#"{"command":"tracking"}"#).unwrap().request,
            Request::Tracking
        );
        let unknown = parse_request(br#"{"command":"reboot","seq":3}"#).unwrap_err();
        assert_eq!((unknown.seq, unknown.status), (Some(3), Status::BadRequest));
        // Another version is refused by number, with the seq for the reply.
        let newer = parse_request(br#"{"command":"tracking","seq":4,"version":2}"#).unwrap_err();
        assert_eq!((newer.seq, newer.status), (Some(4), Status::BadVersion));
        assert!(newer.message.contains("version 1"), "{}", newer.message);
        assert_eq!(
            parse_request(br#"{"command":"tracking","version":1}"#)
                .unwrap()
                .request,
            Request::Tracking
        );
        assert!(parse_request(b"\xff\x00garbage").is_err());
        assert!(parse_request(b"[1,2]").is_err());
        assert!(parse_request(br#"{"command":"sources","first":-1}"#).is_err());
    }

    #[test]
    fn list_replies_are_paged_within_the_datagram_limit_and_reassemble() {
        let response = stats(100, 8);
        let full = serde_json::to_value(&response).unwrap();
        let mut collected = Vec::new();
        let mut pages = 0;
        while pages < 100 {
            let page = encode_reply(&response, Some(9), collected.len());
            assert!(page.bytes.len() <= MAX_REPLY_BYTES, "{}", page.bytes.len());
            let reply = parse_reply(&page.bytes).unwrap();
            assert_eq!(reply.seq, Some(9));
            assert_eq!(reply.version, Some(u64::from(PROTOCOL_VERSION)));
            assert_eq!(reply.status(), Ok(Some(Status::Ok)));
            let (first, total) = reply.page.unwrap();
            assert_eq!((first, total), (collected.len(), 100));
            let mut data = reply.response["data"].clone();
            collected.append(records_mut(&mut data).unwrap());
            pages += 1;
            assert_eq!(page.complete, collected.len() == total);
            if page.complete {
                break;
            }
        }
        assert!(pages > 2, "100 records take several pages");
        assert_eq!(Value::Array(collected), full["data"]);
    }

    #[test]
    fn a_record_too_large_for_a_datagram_is_an_error_not_a_truncation() {
        let page = encode_reply(&stats(2, 5000), Some(1), 0);
        let reply = parse_reply(&page.bytes).unwrap();
        assert_eq!(reply.response["ok"], false);
        assert_eq!(reply.status(), Ok(Some(Status::ReplyTooLarge)));
        assert!(
            reply.response["error"]
                .as_str()
                .unwrap()
                .contains("record 0 of the reply"),
            "{}",
            reply.response
        );
        assert!(!page.complete);
    }

    #[test]
    fn replies_without_records_are_sent_whole_and_object_lists_are_paged() {
        let done = Response::ok(ResponseData::Done(Done {
            done: "burst started on 2 sources".into(),
        }));
        let page = encode_reply(&done, None, 0);
        let reply = parse_reply(&page.bytes).unwrap();
        assert_eq!(
            reply.response,
            serde_json::json!({"ok": true, "status": 0, "data": {"done": "burst started on 2 sources"}})
        );
        assert_eq!((reply.seq, reply.page), (None, None));
        assert!(page.complete);
        let mut clients = serde_json::json!({"serving": true, "clients": [{"a": 1}, {"a": 2}]});
        assert_eq!(records_mut(&mut clients).unwrap().len(), 2);
        let mut two = serde_json::json!({"x": [], "y": []});
        assert!(records_mut(&mut two).is_none());
        assert!(records_mut(&mut serde_json::json!({"done": "x"})).is_none());
    }
}
