//! A real HTTP receiver on 127.0.0.1:0, the stand-in for Slack and GitHub: it records
//! every request it gets and answers from a script, then with 200 `ok` once the script
//! is spent. Started with [`Receiver::github`], it is the GitHub stand-in: it checks
//! each request against the documented shapes (`github_shapes`), answers a broken one
//! with 422 as GitHub does, and otherwise answers like GitHub (a created check run or
//! comment with its `id`; an edit of a comment it never made with 404).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Wait this long before answering, to provoke client timeouts.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
    /// For the GitHub stand-in: how the request breaks GitHub's documented shapes.
    pub shape_errors: Vec<String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    seen: Vec<Recorded>,
    /// Whether it stands in for GitHub's REST API.
    github: bool,
    /// Ids of the objects it created (check runs, comments).
    next_id: u64,
    comments: Vec<u64>,
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers every request with 200 `ok`.
    pub async fn ok() -> Self {
        Self::start(Vec::new()).await
    }

    /// A receiver that answers from `script`, in order, then with 200 `ok`.
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::serve(Shared {
            script: script.into(),
            ..Shared::default()
        })
        .await
    }

    /// The GitHub stand-in: answers from `script` first (e.g. a 429), then as GitHub
    /// would, checking every request against the documented shapes.
    pub async fn github(script: Vec<Reply>) -> Self {
        Self::serve(Shared {
            script: script.into(),
            github: true,
            next_id: 1000,
            ..Shared::default()
        })
        .await
    }

    /// Every shape error of every request so far, each prefixed with its request.
    pub fn shape_errors(&self) -> Vec<String> {
        self.requests()
            .iter()
            .flat_map(|r| {
                r.shape_errors
                    .iter()
                    .map(move |e| format!("{} {}: {e}", r.method, r.path))
            })
            .collect()
    }

    /// Forget the comments it made, as if someone deleted them on GitHub.
    pub fn delete_comments(&self) {
        self.shared.lock().unwrap().comments.clear();
    }

    async fn serve(shared: Shared) -> Self {
        let shared = Arc::new(Mutex::new(shared));
        let app = Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            shared,
            server,
        }
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().seen.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut shared = shared.lock().unwrap();
        let shape_errors = if shared.github {
            let pairs: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            crate::github_shapes::shape_errors(method.as_str(), uri.path(), &pairs, &body)
        } else {
            Vec::new()
        };
        let endpoint = crate::github_shapes::endpoint(method.as_str(), uri.path());
        shared.seen.push(Recorded {
            method,
            path: uri.path().to_owned(),
            headers,
            body: body.to_vec(),
            at: Instant::now(),
            shape_errors: shape_errors.clone(),
        });
        match shared.script.pop_front() {
            Some(reply) => reply,
            None if !shared.github => Reply::status(200).body("ok"),
            None if !shape_errors.is_empty() => {
                let errors =
                    serde_json::json!({"message": "Validation Failed", "errors": shape_errors});
                Reply::status(422).body(&errors.to_string())
            }
            None => github_answer(&mut shared, endpoint),
        }
    };
    // Only a scripted delay waits: even a zero sleep lasts a timer tick, and a test that
    // sees the request may expect the client to have its answer at once.
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// What GitHub answers a well-formed request with.
fn github_answer(
    shared: &mut Shared,
    endpoint: Result<crate::github_shapes::Endpoint, String>,
) -> Reply {
    use crate::github_shapes::Endpoint;
    let created = |shared: &mut Shared| {
        shared.next_id += 1;
        shared.next_id
    };
    match endpoint {
        Ok(Endpoint::Status) => Reply::status(201).body(r#"{"id":1,"state":"success"}"#),
        Ok(Endpoint::CreateCheckRun) => {
            let id = created(shared);
            Reply::status(201).body(&format!(r#"{{"id":{id}}}"#))
        }
        Ok(Endpoint::UpdateCheckRun(id)) => Reply::status(200).body(&format!(r#"{{"id":{id}}}"#)),
        Ok(Endpoint::CreateComment(_)) => {
            let id = created(shared);
            shared.comments.push(id);
            Reply::status(201).body(&format!(r#"{{"id":{id}}}"#))
        }
        Ok(Endpoint::UpdateComment(id)) if shared.comments.contains(&id) => {
            Reply::status(200).body(&format!(r#"{{"id":{id}}}"#))
        }
        Ok(Endpoint::UpdateComment(_)) => Reply::status(404).body(r#"{"message":"Not Found"}"#),
        Err(_) => Reply::status(404).body(r#"{"message":"Not Found"}"#),
    }
}

/// A port nothing listens on: bound, read, and released again.
pub async fn closed_port_url(path: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}{path}")
}
