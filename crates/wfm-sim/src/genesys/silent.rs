//! A host that takes TCP connections and never says a word: where a
//! notifications `connectUri` may lead when a proxy or firewall on the way
//! holds the websocket handshake (`server.notification_socket = "silent"`).
//! Connections are kept open, unread, until the simulator's state goes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct Silent {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Silent {
    /// Listens on a free loopback port; called from a request handler, on
    /// the simulator's runtime.
    pub fn bind() -> std::io::Result<Silent> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        Ok(Silent {
            addr,
            accepted,
            task,
        })
    }

    /// Connections taken so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}
