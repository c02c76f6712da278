//! gnomon-control: the control protocol between `gnomon` and gnomond (Unix datagrams,
//! one JSON request and one JSON reply each; docs/control-protocol.md).
//!
//! Owns what both ends must agree on: the message types ([`protocol`]), the envelope
//! around them (`seq`, size limits, paging: [`envelope`]), the protocol version and
//! the numbered reply statuses ([`status`]) and the `online`/`offline` address forms
//! ([`source_match`]). Pure
//! types and functions over bytes: it must not do IO, know the engine, or decide what
//! a request does (gnomond's runtime does).

#![forbid(unsafe_code)]

pub mod envelope;
pub mod protocol;
pub mod source_match;
pub mod status;
