//! Who the admin endpoint serves, and for how long. Every connection is
//! taken at once, so a probe never queues behind others in the kernel's
//! backlog; it is served if a slot is free (`admin.max_connections`) and
//! its client address holds fewer than `admin.max_connections_per_address`,
//! else answered `503` and closed, without hyper. A served connection that
//! sends nothing within [`FIRST_BYTE`] is closed before hyper sees it:
//! a neighbour opening connections and holding them idle, reopening each
//! as it is dropped, can hold at most its share of the slots, and only
//! briefly each time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// After a failed accept (out of file descriptors, say), wait this long
/// before the next: retrying at once would spin a core the runs need.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a new connection may stay silent: every HTTP client sends its
/// request as soon as it is connected.
pub const FIRST_BYTE: Duration = Duration::from_secs(2);

/// How long a refusal may take to be written and read to the client's
/// hang-up.
const REFUSAL: Duration = Duration::from_secs(1);

/// What a refused client is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// How the admin endpoint bounds its clients.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
    /// How long open connections may finish at the stop.
    pub grace: Duration,
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Every slot is taken.
    Full,
    /// Its client address holds its share of the slots already.
    AddressFull,
}

impl Refused {
    const ALL: [Refused; 2] = [Refused::Full, Refused::AddressFull];

    fn label(self) -> &'static str {
        match self {
            Refused::Full => "full",
            Refused::AddressFull => "address_full",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refused::Full => "the admin endpoint serves admin.max_connections connections at once, all taken: try again shortly",
            Refused::AddressFull => "this client address holds admin.max_connections_per_address connections already: close one, or try again shortly",
        }
    }
}

/// Describes the refusals' counter and creates its series at zero.
pub(super) fn register_metrics() {
    metrics::describe_counter!(
        "wfm_admin_connections_refused_total",
        "Admin connections answered 503 and closed at once, by reason (full: every admin.max_connections slot taken; address_full: the client address held admin.max_connections_per_address)."
    );
    for why in Refused::ALL {
        metrics::counter!("wfm_admin_connections_refused_total", "reason" => why.label())
            .increment(0);
    }
}

/// The slots, and how many each client address holds.
struct Admission {
    slots: Arc<Semaphore>,
    max_per_address: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A served connection's slot and its place in its address's count, both
/// given back when it is dropped.
struct Ticket {
    _slot: OwnedSemaphorePermit,
    address: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Admission {
    fn new(limits: &Limits) -> Self {
        Admission {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            max_per_address: limits.max_per_address,
            held: Arc::default(),
        }
    }

    fn admit(&self, address: IpAddr) -> Result<Ticket, Refused> {
        // An IPv4 client on a dual-stack socket is one address, however written.
        let address = address.to_canonical();
        let mut held = self.held.lock().expect("admin connection counts");
        let count = held.get(&address).copied().unwrap_or(0);
        if count >= self.max_per_address {
            return Err(Refused::AddressFull);
        }
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        held.insert(address, count + 1);
        Ok(Ticket {
            _slot: slot,
            address,
            held: self.held.clone(),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("admin connection counts");
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

/// Takes every connection: serves it on its own task, or refuses it; at the
/// stop, lets open ones finish within the grace, then drops them.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let admission = Admission::new(&limits);
    // Refusals being written are bounded too: beyond these, a connection
    // is closed without a word, and file descriptors stay bounded.
    let refusing = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "admin endpoint: cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match admission.admit(peer.ip()) {
            Ok(ticket) => {
                let connection = connection(stream, app.clone(), limits, stop.clone());
                connections.spawn(async move {
                    connection.await;
                    drop(ticket);
                });
            }
            Err(why) => {
                metrics::counter!("wfm_admin_connections_refused_total", "reason" => why.label())
                    .increment(1);
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    connections.spawn(async move {
                        refuse(stream, why).await;
                        drop(permit);
                    });
                }
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let finished = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            open = connections.len(),
            "admin connections still open after the shutdown grace: closed"
        );
        connections.abort_all();
    }
}

/// `503` with `Retry-After` and `Connection: close`, written by hand: a
/// refused client gets no hyper connection, no request parsing and no
/// slot. Then reads to the client's hang-up: closing with its request
/// unread would reset the connection, and the client could lose the answer.
async fn refuse(mut stream: TcpStream, why: Refused) {
    let body = serde_json::json!({ "error": why.message() }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Whether the client sends something within [`FIRST_BYTE`] (and the
/// header-read timeout, if shorter), looked at without reading it.
async fn speaks(stream: &TcpStream, limits: &Limits) -> bool {
    let within = FIRST_BYTE.min(limits.header_read_timeout);
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// One client: a first byte within [`FIRST_BYTE`], headers within the
/// header-read timeout, then the request; at the stop, asked to finish (an
/// idle or half-sent one is closed).
async fn connection(stream: TcpStream, app: Router, limits: Limits, stop: CancellationToken) {
    let spoke = tokio::select! {
        spoke = speaks(&stream, &limits) => spoke,
        _ = stop.cancelled() => false,
    };
    if !spoke {
        return;
    }
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        _ = stop.cancelled() => {}
    }
    served.as_mut().graceful_shutdown();
    let _ = served.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_address: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections,
            max_per_address,
            grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn an_address_holds_its_share_and_gets_it_back_when_done() {
        let admission = Admission::new(&limits(4, 2));
        let neighbour: IpAddr = "127.0.0.2".parse().unwrap();
        let first = admission.admit(neighbour).unwrap();
        let _second = admission.admit(neighbour).unwrap();
        assert_eq!(admission.admit(neighbour).err(), Some(Refused::AddressFull));
        // The same client as IPv4 written in IPv6 is the same address.
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(admission.admit(mapped).err(), Some(Refused::AddressFull));
        drop(first);
        assert!(admission.admit(neighbour).is_ok());
    }

    #[test]
    fn beyond_the_slots_everyone_is_refused() {
        let admission = Admission::new(&limits(2, 2));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let _held = (admission.admit(a).unwrap(), admission.admit(b).unwrap());
        assert_eq!(admission.admit(b).err(), Some(Refused::Full));
        assert!(admission.held.lock().unwrap().values().all(|n| *n == 1));
    }
}
