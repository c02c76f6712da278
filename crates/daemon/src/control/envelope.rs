//! One request, one reply, each in one datagram: the envelope around [`Request`] and
//! [`Response`] and the paging of list replies.
//!
//! Owns the fields the transport adds (`seq`, echoed so a client can ignore stale
//! replies; `first` and `total` for paging), the size limits, and where a reply's
//! records are: `data` itself when it is an array, otherwise the one field of `data`
//! that holds an array (`clients`'s `clients`, `serverstats`'s `sockets`). A paged
//! reply carries the records from `first` on that fit in [`MAX_REPLY_BYTES`]; a client
//! asks again from where it got to until it has `total`. The daemon and `gnomon` both
//! use this module, so they agree on the rule. See docs/control-protocol.md.

use super::protocol::{Request, Response};
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

/// A request as the client sends it.
pub fn encode_request(request: &Request, seq: u64, first: usize) -> Vec<u8> {
    let mut value = serde_json::to_value(request).expect("requests serialise");
    if let Value::Object(map) = &mut value {
        map.insert("seq".into(), seq.into());
        if first > 0 {
            map.insert("first".into(), first.into());
        }
    }
    serde_json::to_vec(&value).expect("values serialise")
}

/// Decode a request datagram. The error carries the `seq` when it could be read, so
/// the error reply still reaches the right exchange.
pub fn parse_request(bytes: &[u8]) -> Result<RequestEnvelope, (Option<u64>, String)> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| (None, format!("bad request: {error}")))?;
    let Value::Object(mut map) = value else {
        return Err((None, "bad request: not a JSON object".into()));
    };
    let seq = match map.remove("seq") {
        None => None,
        Some(value) => Some(value.as_u64().ok_or((
            None,
            "bad request: seq is not a non-negative integer".into(),
        ))?),
    };
    let first = match map.remove("first") {
        None => 0,
        Some(value) => value
            .as_u64()
            .and_then(|first| usize::try_from(first).ok())
            .ok_or((
                seq,
                "bad request: first is not a non-negative integer".to_string(),
            ))?,
    };
    let request = serde_json::from_value::<Request>(Value::Object(map))
        .map_err(|error| (seq, format!("bad request: {error}")))?;
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
pub fn encode_reply(response: &Response, seq: Option<u64>, first: usize) -> Page {
    let mut value =
        serde_json::to_value(response).unwrap_or_else(|_| error_value("unserialisable reply"));
    let ok = matches!(response, Response::Ok { .. });
    if let Some(seq) = seq {
        insert(&mut value, "seq", seq.into());
    }
    let records = value
        .get_mut("data")
        .and_then(records_mut)
        .map(std::mem::take);
    let Some(records) = records else {
        let bytes = to_bytes(&value);
        if bytes.len() > MAX_REPLY_BYTES {
            return error_page(
                seq,
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
    let mut end = start;
    for record in &records[start..] {
        let len = to_bytes(record).len() + usize::from(end > start);
        if size + len > MAX_REPLY_BYTES {
            if end == start {
                return error_page(
                    seq,
                    format!(
                        "record {start} of the reply is {len} bytes, more than one reply \
                         datagram holds ({MAX_REPLY_BYTES})"
                    ),
                );
            }
            break;
        }
        size += len;
        end += 1;
    }
    if let Some(slot) = value.get_mut("data").and_then(records_mut) {
        slot.extend(records.into_iter().skip(start).take(end - start));
    }
    let bytes = to_bytes(&value);
    debug_assert!(bytes.len() <= MAX_REPLY_BYTES, "{} bytes", bytes.len());
    Page {
        bytes,
        complete: ok && end >= total,
    }
}

/// The error reply `message` for the request numbered `seq`.
pub fn error_page(seq: Option<u64>, message: String) -> Page {
    let mut value = error_value(&message);
    if let Some(seq) = seq {
        insert(&mut value, "seq", seq.into());
    }
    let mut bytes = to_bytes(&value);
    if bytes.len() > MAX_REPLY_BYTES {
        bytes = to_bytes(&error_value("error message too long"));
    }
    Page {
        bytes,
        complete: false,
    }
}

fn error_value(message: &str) -> Value {
    serde_json::to_value(Response::error(message)).expect("errors serialise")
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
    pub seq: Option<u64>,
    /// `Some((first, total))` on a paged reply.
    pub page: Option<(usize, usize)>,
    pub response: Value,
}

/// Decode a reply datagram (the CLI's side).
pub fn parse_reply(bytes: &[u8]) -> Result<ReplyEnvelope, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let Value::Object(mut map) = value else {
        return Err("not a JSON object".into());
    };
    let seq = map.remove("seq").and_then(|v| v.as_u64());
    let first = map.remove("first").and_then(|v| v.as_u64());
    let total = map.remove("total").and_then(|v| v.as_u64());
    let page = match (first, total) {
        (Some(first), Some(total)) => Some((first as usize, total as usize)),
        _ => None,
    };
    Ok(ReplyEnvelope {
        seq,
        page,
        response: Value::Object(map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{Done, ResponseData, SourceStats};

    fn stats(count: usize, name_len: usize) -> Response {
        Response::ok(ResponseData::Sourcestats(
            (0..count)
                .map(|index| SourceStats {
                    name: format!("{index:0name_len$}"),
                    samples: 8,
                    samples_used: 8,
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
    fn requests_carry_seq_and_first_beside_the_command() {
        let bytes = encode_request(&Request::Sources, 7, 12);
        assert_eq!(bytes, br#"{"command":"sources","first":12,"seq":7}"#);
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
        assert_eq!(
            parse_request(br#"{"command":"reboot","seq":3}"#)
                .unwrap_err()
                .0,
            Some(3)
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
            serde_json::json!({"ok": true, "data": {"done": "burst started on 2 sources"}})
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
