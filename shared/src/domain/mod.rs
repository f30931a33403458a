//! Pure domain rules. Time is always passed in.

pub mod agent;
pub mod assignment;
pub mod assignment_state;
pub mod campaign;
pub mod channel;
pub mod conversation;
pub mod inbound;
pub mod message;
pub mod phone;
pub mod routing;
pub mod sms;
pub mod template;
pub mod window;
pub mod working_hours;
pub mod workspace;

pub use channel::{Channel, ChannelId, ChannelKind};
pub use conversation::{CloseReason, Conversation, ConversationState, Origin};
pub use message::{DeliveryStatus, Direction, Message, MessageContent};
pub use phone::{Phone, PhoneError};
pub use window::{Window, WINDOW_HOURS};

/// Milliseconds since the Unix epoch, UTC. The domain's only notion of time.
pub type Millis = i64;
