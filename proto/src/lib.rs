//! Wire protocol and shared domain types of `heatmapd` and `heatmapctl`.
//!
//! A connection carries frames (see [`frame`]) whose payloads are postcard
//! encodings of [`Request`] (client to daemon) and [`Response`] (daemon to
//! client). The first request on every connection is [`Request::Hello`].

pub mod frame;
pub mod messages;
pub mod socket;
pub mod types;

pub use frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};
pub use messages::{ErrorKind, Event, Request, Response};
pub use types::*;

/// Version of the wire protocol. Both sides must agree exactly.
pub const PROTOCOL_VERSION: u32 = 1;
