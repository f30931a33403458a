//! A TCP proxy in front of the emulator that notes when a function is waiting on an AWS
//! call: from the first bytes of a request (sent after the previous answer on its
//! connection) to the first bytes of the answer. Init minus that time is what the
//! function's own start costs, the part the floor is comparable with; the round trips
//! themselves (priming, `webhook`'s secrets) are the emulator's speed, not the code's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The waits seen so far, as (request sent, answer begun).
#[derive(Debug, Clone, Default)]
pub struct Waits(Arc<Mutex<Vec<(Instant, Instant)>>>);

impl Waits {
    fn push(&self, from: Instant, to: Instant) {
        if let Ok(mut w) = self.0.lock() {
            w.push((from, to));
        }
    }

    /// The wall time before `until` during which at least one call was waiting (waits
    /// that overlap count once).
    pub fn before(&self, until: Instant) -> Duration {
        let mut spans: Vec<(Instant, Instant)> = match self.0.lock() {
            Ok(w) => w
                .iter()
                .filter(|(from, _)| *from < until)
                .map(|&(from, to)| (from, to.min(until)))
                .collect(),
            Err(_) => return Duration::ZERO,
        };
        union(&mut spans)
    }
}

fn union(spans: &mut [(Instant, Instant)]) -> Duration {
    spans.sort_by_key(|s| s.0);
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for &(from, to) in spans.iter() {
        current = match current {
            Some((f, t)) if from <= t => Some((f, t.max(to))),
            Some((f, t)) => {
                total += t - f;
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((f, t)) = current {
        total += t - f;
    }
    total
}

/// Listens on a local port and forwards every connection to `upstream` (`host:port`).
/// Returns the URL to give the function instead of the emulator's, and its waits.
pub async fn start(upstream: String) -> std::io::Result<(String, Waits)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let waits = Waits::default();
    let all = waits.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(forward(client, upstream.clone(), all.clone()));
        }
    });
    Ok((url, waits))
}

async fn forward(client: TcpStream, upstream: String, waits: Waits) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The moment the request in flight was sent; None while the answer is being read.
    let sent: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sent_up = sent.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Ok(mut s) = sent_up.lock() {
                s.get_or_insert_with(Instant::now);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(from) = sent.lock().ok().and_then(|mut s| s.take()) {
            waits.push(from, Instant::now());
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_waits_count_once_and_only_before_the_end() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let waits = Waits::default();
        waits.push(at(0), at(10));
        waits.push(at(5), at(12));
        waits.push(at(20), at(30));
        waits.push(at(40), at(50));
        assert_eq!(waits.before(at(25)), Duration::from_millis(12 + 5));
        assert_eq!(waits.before(at(100)), Duration::from_millis(12 + 10 + 10));
        assert_eq!(waits.before(at(0)), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_request_and_its_answer_through_the_proxy_are_one_wait() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            s.write_all(b"pong").await.unwrap();
        });
        let (url, waits) = start(addr).await.unwrap();
        let mut c = TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        let waited = waits.before(Instant::now());
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
    }
}
