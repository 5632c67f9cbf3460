//! Small OAuth servers on 127.0.0.1:0 for the token manager's tests: one
//! that answers what the test scripts and counts requests, and one that
//! accepts connections and never answers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// What the token endpoint answers, until the test changes it.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with an access token and these extra fields (e.g. `expires_in`).
    Token(Value),
    /// Any status with a JSON body.
    Json(u16, Value),
    /// Any status with an HTML body, like a captive portal or a proxy.
    Html(u16),
}

pub struct FakeOAuth {
    pub addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<AtomicUsize>,
}

impl FakeOAuth {
    /// Serves `POST {path}` (e.g. `/oauth/token`), answering `reply`.
    pub async fn spawn(path: &str, reply: Reply) -> Self {
        let state = (Arc::new(Mutex::new(reply)), Arc::new(AtomicUsize::new(0)));
        let app = Router::new()
            .route(path, post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeOAuth {
            addr,
            reply: state.0,
            requests: state.1,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn answer(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Token requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

type ServerState = (Arc<Mutex<Reply>>, Arc<AtomicUsize>);

async fn answer(
    axum::extract::State((reply, requests)): axum::extract::State<ServerState>,
) -> Response {
    let n = requests.fetch_add(1, Ordering::SeqCst);
    let reply = reply.lock().unwrap().clone();
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Token(extra) => {
            let mut body = serde_json::json!({
                "access_token": format!("token-{n}"),
                "token_type": "Bearer",
            });
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            axum::Json(body).into_response()
        }
        Reply::Json(code, body) => (status(code), axum::Json(body)).into_response(),
        Reply::Html(code) => (
            status(code),
            [("content-type", "text/html")],
            "<html><body>Please sign in to the guest network</body></html>",
        )
            .into_response(),
    }
}

/// Accepts connections and never answers: a hanging endpoint.
pub struct Hanging {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Hanging {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        Hanging { addr, accepted }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
