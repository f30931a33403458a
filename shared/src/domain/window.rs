//! The 24-hour customer-service window.
//!
//! Per (channel, contact) the window is open for 24 hours after the contact's last
//! inbound message. Outside it only approved templates may be sent.

use super::Millis;
use serde::Serialize;

pub const WINDOW_HOURS: i64 = 24;
const WINDOW_MILLIS: Millis = WINDOW_HOURS * 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub open: bool,
    pub last_inbound_at: Option<Millis>,
    pub closes_at: Option<Millis>,
}

impl Window {
    /// The one rule every send decision uses.
    pub fn at(last_inbound_at: Option<Millis>, now: Millis) -> Self {
        Self::of(last_inbound_at, None, now)
    }

    /// The window, also closed when the provider said so (error 131047, re-engagement
    /// required) after the last inbound message.
    pub fn of(
        last_inbound_at: Option<Millis>,
        closed_by_provider_at: Option<Millis>,
        now: Millis,
    ) -> Self {
        let closed_by_provider = match (last_inbound_at, closed_by_provider_at) {
            (Some(last), Some(closed)) => closed >= last,
            _ => false,
        };
        let closes_at = last_inbound_at.map(|t| t + WINDOW_MILLIS);
        Self {
            open: !closed_by_provider && closes_at.is_some_and(|c| now < c),
            last_inbound_at,
            closes_at: if closed_by_provider {
                closed_by_provider_at
            } else {
                closes_at
            },
        }
    }

    /// A channel without a window (SMS): free text at any time.
    pub fn always_open(last_inbound_at: Option<Millis>) -> Self {
        Self {
            open: true,
            last_inbound_at,
            closes_at: None,
        }
    }

    pub fn requires_template(&self) -> bool {
        !self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;

    #[test]
    fn window_is_open_at_23h59m59s() {
        let w = Window::at(Some(0), 24 * HOUR - 1_000);
        assert!(w.open);
        assert!(!w.requires_template());
    }

    #[test]
    fn window_is_closed_at_24h00m00s() {
        let w = Window::at(Some(0), 24 * HOUR);
        assert!(!w.open);
        assert!(w.requires_template());
        assert_eq!(w.closes_at, Some(24 * HOUR));
    }

    #[test]
    fn window_closed_by_the_provider_stays_closed_until_the_contact_writes_again() {
        let w = Window::of(Some(0), Some(HOUR), 2 * HOUR);
        assert!(!w.open);
        assert_eq!(w.closes_at, Some(HOUR));
        let w = Window::of(Some(3 * HOUR), Some(HOUR), 4 * HOUR);
        assert!(w.open, "a newer inbound message reopens it");
    }

    #[test]
    fn window_without_inbound_is_closed() {
        let w = Window::at(None, 0);
        assert!(!w.open);
        assert_eq!(w.closes_at, None);
    }
}
