//! A TCP relay on 127.0.0.1 that can stop forwarding without closing
//! anything: a network partition as a process sees it (packets dropped,
//! no reset, no FIN), which a closed socket or a stopped server is not.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Relay {
    pub addr: SocketAddr,
    flowing: Arc<watch::Sender<bool>>,
}

impl Relay {
    /// Relays every connection made to `addr` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let flowing = Arc::new(watch::channel(true).0);
        let gate = flowing.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, gate.subscribe()));
                    tokio::spawn(pump(sr, cw, gate.subscribe()));
                });
            }
        });
        Relay { addr, flowing }
    }

    /// Stops forwarding: what arrives is held, nothing is closed.
    pub fn cut(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again, what was held first.
    pub fn heal(&self) {
        self.flowing.send_replace(true);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if flowing.wait_for(|f| *f).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if flowing.wait_for(|f| *f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
