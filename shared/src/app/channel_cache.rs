//! Channel settings cached per function instance, for the hot paths (`inbound`,
//! `hsm-send`): a message costs no read of its channel while the cached copy is younger
//! than the staleness bound (`CHANNEL_CACHE_SECONDS`, the template's
//! `ChannelCacheSeconds`). A settings change reaches those functions within that bound;
//! `agent-api`, which reads and writes settings, never caches.
//!
//! Only channels that exist are cached: a channel created a moment ago is found at once,
//! and its first messages are never dead-lettered as unknown.

use crate::domain::{Channel, Millis};
use crate::ports::{ChannelStore, Clock, PortResult};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct CachedChannels {
    inner: Arc<dyn ChannelStore>,
    clock: Arc<dyn Clock>,
    max_age: Millis,
    entries: Mutex<HashMap<String, (Millis, Channel)>>,
}

impl CachedChannels {
    /// `max_age_seconds` 0 turns the cache off.
    pub fn new(inner: Arc<dyn ChannelStore>, clock: Arc<dyn Clock>, max_age_seconds: i64) -> Self {
        Self {
            inner,
            clock,
            max_age: max_age_seconds.max(0) * 1000,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, id: &str, now: Millis) -> Option<Channel> {
        let entries = self.entries.lock().ok()?;
        let (read_at, channel) = entries.get(id)?;
        (now - read_at < self.max_age).then(|| channel.clone())
    }

    fn keep(&self, channel: &Channel, now: Millis) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(channel.id.clone(), (now, channel.clone()));
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

#[async_trait]
impl ChannelStore for CachedChannels {
    async fn channel(&self, id: &str) -> PortResult<Option<Channel>> {
        if self.max_age == 0 {
            return self.inner.channel(id).await;
        }
        let now = self.clock.now();
        if let Some(channel) = self.fresh(id, now) {
            return Ok(Some(channel));
        }
        let found = self.inner.channel(id).await?;
        match &found {
            Some(channel) => self.keep(channel, now),
            None => self.forget(id),
        }
        Ok(found)
    }

    async fn channels(&self) -> PortResult<Vec<Channel>> {
        self.inner.channels().await
    }

    async fn put_channel(&self, channel: &Channel) -> PortResult<()> {
        self.forget(&channel.id);
        self.inner.put_channel(channel).await
    }

    async fn update_channel(&self, channel: &Channel, expected: u64) -> PortResult<bool> {
        self.forget(&channel.id);
        self.inner.update_channel(channel, expected).await
    }

    async fn reached(&self, channel: &str, from_hour: i64, to_hour: i64) -> PortResult<u64> {
        self.inner.reached(channel, from_hour, to_hour).await
    }

    async fn count_filtered(&self, channel: &str) -> PortResult<()> {
        self.inner.count_filtered(channel).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    struct Counting {
        reads: AtomicUsize,
        channel: Mutex<Option<Channel>>,
    }

    #[async_trait]
    impl ChannelStore for Counting {
        async fn channel(&self, _id: &str) -> PortResult<Option<Channel>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.channel.lock().unwrap().clone())
        }
        async fn channels(&self) -> PortResult<Vec<Channel>> {
            Ok(vec![])
        }
        async fn put_channel(&self, channel: &Channel) -> PortResult<()> {
            *self.channel.lock().unwrap() = Some(channel.clone());
            Ok(())
        }
        async fn update_channel(&self, channel: &Channel, _expected: u64) -> PortResult<bool> {
            self.put_channel(channel).await.map(|_| true)
        }
        async fn reached(&self, _: &str, _: i64, _: i64) -> PortResult<u64> {
            Ok(0)
        }
        async fn count_filtered(&self, _: &str) -> PortResult<()> {
            Ok(())
        }
    }

    struct Manual(AtomicI64);

    impl Clock for Manual {
        fn now(&self) -> Millis {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn channel(name: &str) -> Channel {
        serde_json::from_value(serde_json::json!({
            "id": "ch1", "display_number": "554830000000", "name": name
        }))
        .unwrap()
    }

    fn cache(max_age_seconds: i64) -> (Arc<Counting>, Arc<Manual>, CachedChannels) {
        let store = Arc::new(Counting {
            reads: AtomicUsize::new(0),
            channel: Mutex::new(None),
        });
        let clock = Arc::new(Manual(AtomicI64::new(1_000_000)));
        let cached = CachedChannels::new(store.clone(), clock.clone(), max_age_seconds);
        (store, clock, cached)
    }

    #[tokio::test]
    async fn channel_settings_are_read_once_per_staleness_bound() {
        let (store, clock, cached) = cache(30);
        *store.channel.lock().unwrap() = Some(channel("a"));
        for _ in 0..5 {
            assert_eq!(cached.channel("ch1").await.unwrap().unwrap().name, "a");
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);

        // Changed elsewhere (agent-api of another instance): still the cached copy...
        *store.channel.lock().unwrap() = Some(channel("b"));
        clock.0.fetch_add(29_999, Ordering::SeqCst);
        assert_eq!(cached.channel("ch1").await.unwrap().unwrap().name, "a");
        // ...and the new settings once the bound has passed.
        clock.0.fetch_add(1, Ordering::SeqCst);
        assert_eq!(cached.channel("ch1").await.unwrap().unwrap().name, "b");
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unknown_channel_is_not_cached_so_a_new_channel_is_found_at_once() {
        let (store, _clock, cached) = cache(30);
        assert!(cached.channel("ch1").await.unwrap().is_none());
        *store.channel.lock().unwrap() = Some(channel("a"));
        assert!(cached.channel("ch1").await.unwrap().is_some());
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_settings_write_through_the_cache_is_seen_at_once_and_zero_turns_it_off() {
        let (store, _clock, cached) = cache(30);
        *store.channel.lock().unwrap() = Some(channel("a"));
        cached.channel("ch1").await.unwrap();
        cached.update_channel(&channel("b"), 1).await.unwrap();
        assert_eq!(cached.channel("ch1").await.unwrap().unwrap().name, "b");

        let (store, _clock, off) = cache(0);
        *store.channel.lock().unwrap() = Some(channel("a"));
        off.channel("ch1").await.unwrap();
        off.channel("ch1").await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }
}
