//! The numbered status of every reply, and the protocol version.
//!
//! Owns the numbers (a contract: a number keeps its meaning forever, new ones are
//! added at the end) and their meaning; the envelope puts them on the wire and the
//! daemon's request handling picks one per answer. The text of an error reply is for
//! people; a program tells errors apart by their status.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The version of the control protocol this build speaks. It changes only when a
/// request or reply changes incompatibly (adding a field does not change it).
pub const PROTOCOL_VERSION: u32 = 1;

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Done; the reply carries `data`.
    Ok,
    /// The daemon could not carry the request out (the message says why).
    Failed,
    /// Not a request: not JSON, not an object, an unknown command, a bad field.
    BadRequest,
    /// The request datagram was longer than the daemon reads.
    RequestTooLong,
    /// The request asked for a protocol version the daemon does not speak.
    BadVersion,
    /// The command changes the daemon and is for root only.
    NotRoot,
    /// `online`/`offline` selected no source.
    NoSuchSource,
    /// `online`/`offline` got an address that is none of the forms.
    BadAddress,
    /// The feature the request reads is off (`clients` under `noclientlog`).
    NotEnabled,
    /// The answer does not fit in one reply datagram.
    ReplyTooLarge,
}

impl Status {
    /// Every status, in the order of their numbers.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::Failed,
        Status::BadRequest,
        Status::RequestTooLong,
        Status::BadVersion,
        Status::NotRoot,
        Status::NoSuchSource,
        Status::BadAddress,
        Status::NotEnabled,
        Status::ReplyTooLarge,
    ];

    /// The number on the wire (`"status"`).
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::BadRequest => 2,
            Status::RequestTooLong => 3,
            Status::BadVersion => 4,
            Status::NotRoot => 5,
            Status::NoSuchSource => 6,
            Status::BadAddress => 7,
            Status::NotEnabled => 8,
            Status::ReplyTooLarge => 9,
        }
    }

    /// The status numbered `code`; `None` for a number this build does not know (a
    /// newer daemon's).
    pub fn from_code(code: u64) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| u64::from(status.code()) == code)
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.code())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        let code = u64::deserialize(deserializer)?;
        Status::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown status {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dense_unique_and_round_trip() {
        for (index, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(status.code()), index);
            assert_eq!(Status::from_code(u64::from(status.code())), Some(status));
            let text = serde_json::to_string(&status).unwrap();
            assert_eq!(text, index.to_string());
            assert_eq!(serde_json::from_str::<Status>(&text).unwrap(), status);
        }
        assert_eq!(Status::from_code(Status::ALL.len() as u64), None);
        assert!(serde_json::from_str::<Status>("99").is_err());
    }
}
