//! The development clock: real time plus an offset that `POST /_dev/clock` moves forward.

use conversa::domain::Millis;
use conversa::ports::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct DevClock {
    offset_ms: AtomicI64,
}

impl DevClock {
    pub fn advance_seconds(&self, seconds: i64) -> Millis {
        self.offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
        self.now()
    }

    pub fn offset_seconds(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst) / 1000
    }
}

impl Clock for DevClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::SeqCst)
    }
}
