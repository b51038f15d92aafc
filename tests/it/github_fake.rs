//! A stateful fake of the part of GitHub's REST API sundown uses (issue
//! comments), on wiremock, behind a GitHub Enterprise-style `/api/v3` prefix.
//! It answers `GET /user` with 403 as GitHub does for the workflow token,
//! checks the token on every request, and fails the test on any request it
//! does not know.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const BOT: &str = "github-actions[bot]";

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub login: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    comments: Vec<Comment>,
    next_id: u64,
    /// Create the comment but answer 502, as when the response is lost on the way back.
    lose_next_create: bool,
    /// Refuse every comment write with 403, as GitHub does for a token without
    /// `pull-requests: write` ("Resource not accessible by integration").
    forbid_writes: bool,
}

/// GitHub's answer to a write the token may not make.
fn forbidden() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "403"
    }))
}

pub struct GithubFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl GithubFake {
    /// The fake for `repository` (owner/name), pull request `number`, accepting only `token`.
    pub async fn start(repository: &str, number: u64, token: &str) -> GithubFake {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let auth = format!("Bearer {token}");
        let list_path = format!("/api/v3/repos/{repository}/issues/{number}/comments");

        Mock::given(method("GET"))
            .and(path("/api/v3/user"))
            .and(header("authorization", auth.as_str()))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user"
            })))
            .mount(&server)
            .await;

        let s = state.clone();
        Mock::given(method("GET"))
            .and(path(list_path.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per_page: usize = query(req, "per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let state = s.lock().unwrap();
                let items: Vec<Value> = state
                    .comments
                    .iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .map(to_json)
                    .collect();
                ResponseTemplate::new(200).set_body_json(items)
            })
            .mount(&server)
            .await;

        let s = state.clone();
        Mock::given(method("POST"))
            .and(path(list_path.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let mut state = s.lock().unwrap();
                if state.forbid_writes {
                    return forbidden();
                }
                state.next_id += 1;
                let comment = Comment {
                    id: state.next_id,
                    login: BOT.into(),
                    body: body["body"].as_str().unwrap_or_default().into(),
                };
                state.comments.push(comment.clone());
                if std::mem::take(&mut state.lose_next_create) {
                    return ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>");
                }
                ResponseTemplate::new(201).set_body_json(to_json(&comment))
            })
            .mount(&server)
            .await;

        let s = state.clone();
        Mock::given(method("PATCH"))
            .and(path_regex(format!(
                "^/api/v3/repos/{repository}/issues/comments/[0-9]+$"
            )))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let id: u64 = req.url.path().rsplit('/').next().unwrap().parse().unwrap();
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let mut state = s.lock().unwrap();
                if state.forbid_writes {
                    return forbidden();
                }
                match state.comments.iter_mut().find(|c| c.id == id) {
                    Some(c) => {
                        c.body = body["body"].as_str().unwrap_or_default().into();
                        ResponseTemplate::new(200).set_body_json(to_json(c))
                    }
                    None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
                }
            })
            .mount(&server)
            .await;

        // Anything else is a bug in sundown or in this fake: fail the test.
        Mock::given(any())
            .respond_with(ResponseTemplate::new(418).set_body_string("unexpected request"))
            .with_priority(u8::MAX)
            .named("unexpected request")
            .expect(0)
            .mount(&server)
            .await;

        GithubFake { server, state }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.server.uri())
    }

    /// A comment already on the pull request.
    pub fn add_comment(&self, login: &str, body: &str) -> u64 {
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        let id = state.next_id;
        state.comments.push(Comment {
            id,
            login: login.into(),
            body: body.into(),
        });
        id
    }

    /// From now on every comment create or edit gets 403.
    pub fn forbid_writes(&self) {
        self.state.lock().unwrap().forbid_writes = true;
    }

    pub fn lose_next_create(&self) {
        self.state.lock().unwrap().lose_next_create = true;
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    /// `METHOD /path` of every request received.
    pub async fn requests(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn to_json(c: &Comment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": { "login": c.login, "type": "Bot" },
    })
}

/// An issue of the issues fake, with its comments (body, created_at).
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub open: bool,
    pub comments: Vec<(String, String)>,
}

#[derive(Default)]
struct Issues {
    issues: Vec<Issue>,
    /// The time new comments get (GitHub's `created_at`), set by the test.
    now: String,
}

/// A stateful fake of GitHub's issues API (list open issues, create one,
/// list and create its comments), behind `/api/v3`, checking the token and
/// failing the test on any other request. Comments are stamped with the
/// time the test sets, as GitHub stamps them with its own clock.
pub struct GithubIssues {
    pub server: MockServer,
    state: Arc<Mutex<Issues>>,
}

impl GithubIssues {
    pub async fn start(repository: &str, token: &str, now: &str) -> GithubIssues {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(Issues {
            now: now.to_owned(),
            ..Issues::default()
        }));
        let auth = format!("Bearer {token}");
        let issues = format!("/api/v3/repos/{repository}/issues");
        let issue_json = |i: &Issue| json!({"number": i.number, "title": i.title, "body": i.body, "state": if i.open { "open" } else { "closed" }});

        let s = state.clone();
        Mock::given(method("GET"))
            .and(path(issues.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per_page: usize = query(req, "per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let open_only = query(req, "state").is_none_or(|s| s == "open");
                let state = s.lock().unwrap();
                let items: Vec<Value> = state
                    .issues
                    .iter()
                    .filter(|i| i.open || !open_only)
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .map(issue_json)
                    .collect();
                ResponseTemplate::new(200).set_body_json(items)
            })
            .mount(&server)
            .await;

        let s = state.clone();
        Mock::given(method("POST"))
            .and(path(issues.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let mut state = s.lock().unwrap();
                let issue = Issue {
                    number: state.issues.len() as u64 + 1,
                    title: body["title"].as_str().unwrap_or_default().into(),
                    body: body["body"].as_str().unwrap_or_default().into(),
                    open: true,
                    comments: Vec::new(),
                };
                state.issues.push(issue.clone());
                ResponseTemplate::new(201).set_body_json(issue_json(&issue))
            })
            .mount(&server)
            .await;

        let comments = format!("^/api/v3/repos/{repository}/issues/([0-9]+)/comments$");
        let number = |req: &Request| -> usize { req.url.path().split('/').nth_back(1).unwrap().parse().unwrap() };
        let s = state.clone();
        Mock::given(method("GET"))
            .and(path_regex(comments.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let state = s.lock().unwrap();
                let Some(issue) = state.issues.get(number(req) - 1) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                };
                let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let items: Vec<Value> = issue
                    .comments
                    .iter()
                    .skip((page - 1) * 100)
                    .take(100)
                    .map(|(body, at)| json!({"id": 1, "body": body, "created_at": at, "user": {"login": BOT}}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(items)
            })
            .mount(&server)
            .await;

        let s = state.clone();
        Mock::given(method("POST"))
            .and(path_regex(comments.as_str()))
            .and(header("authorization", auth.as_str()))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let mut state = s.lock().unwrap();
                let now = state.now.clone();
                let Some(issue) = state.issues.get_mut(number(req) - 1) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                };
                let text = body["body"].as_str().unwrap_or_default().to_owned();
                issue.comments.push((text.clone(), now.clone()));
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": 1, "body": text, "created_at": now, "user": {"login": BOT}}))
            })
            .mount(&server)
            .await;

        Mock::given(any())
            .respond_with(ResponseTemplate::new(418).set_body_string("unexpected request"))
            .with_priority(u8::MAX)
            .named("unexpected request")
            .expect(0)
            .mount(&server)
            .await;
        GithubIssues { server, state }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.server.uri())
    }

    /// GitHub's clock, for the comments created from now on.
    pub fn set_now(&self, now: &str) {
        self.state.lock().unwrap().now = now.to_owned();
    }

    pub fn issues(&self) -> Vec<Issue> {
        self.state.lock().unwrap().issues.clone()
    }
}
