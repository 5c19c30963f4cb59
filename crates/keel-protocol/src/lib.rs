//! keel-protocol: the Redis wire protocol, with no I/O and no async.
//!
//! - [`RequestParser`] turns client bytes (RESP multibulk or inline commands) into argument lists, resuming
//!   where it stopped when a command arrives in pieces, with Redis's exact protocol error texts.
//! - [`ReplyWriter`] encodes replies straight into an output buffer as RESP2 or RESP3, so a command never
//!   builds an intermediate reply value on the hot path.
//! - [`ReplyWriter::json`] writes the same reply calls as Upstash's JSON ([`JsonStrings`]), for REST.
//! - [`Commands`] reads a REST request's JSON body (one command, or a pipeline of them) into flat arguments.
//! - [`Frame`] and [`parse_frame`] read replies back (for scripting, REST's event stream and tests).
//! - [`format_double`] renders doubles as Redis 7.2+ replies with them (shortest digits that read back).

mod double;
mod frame;
mod json;
mod json_commands;
mod request;
mod writer;

pub use double::{format_double, DoubleText};
pub use frame::{parse_frame, Frame, FrameError};
pub use json::JsonStrings;
pub use json_commands::Commands;
pub use request::{Parsed, ProtocolError, RequestParser, INLINE_MAX_SIZE};
pub use writer::{ReplyWriter, Resp, KEPT_CAPACITY};
