//! What an HTTP session does with its client (stages 14-17), plugged into the phase-1 core.
//!
//! Phase 1 moves bytes: it accepts the client, buffers what it sends, streams files and relays
//! upstream bytes through bounded pipes. Phase 2 only decides *what* to send, through the
//! [`SessionHandler`] extension point. One [`HttpSession`] lives per client:
//!
//! 1. Client bytes go into the resumable [`RequestParser`] as they arrive, in whatever pieces.
//! 2. A broken head is answered with 400 (or 431) at once, before any file is looked at.
//! 3. A complete head is dispatched: the folder of stages 14-15, or the config's route from
//!    stage 16 on (a file, a directory listing, a redirect or a reverse proxy).
//! 4. The answer is queued as one head (plus a small body), a file follows through the core's
//!    pipe, and the connection closes once everything is delivered: one request per connection,
//!    as in the course.
//!
//! What changes from stage to stage is an explicit [`Options`] value, so the stage binaries
//! differ in a line or two.

use std::path::PathBuf;
use std::sync::Arc;

use phase1::{ClientInfo, SessionCtx, SessionHandler};

use crate::config::{Config, Listener, RouteAction, Upstream};
use crate::directory;
use crate::http::{Method, Parse, Request, RequestParser, Response, StatusCode};
use crate::resolve::{resolve, CleanPath, Resolved};

/// Where requests are answered from.
#[derive(Debug)]
pub enum Site {
    /// Stages 14-15: every port serves files from this folder (`../public` by default).
    Folder(PathBuf),
    /// Stage 16 on: the config decides, per listener, host and path.
    Config(Arc<Config>),
}

/// How responses are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseStyle {
    /// Stage 14: the head is a hand-written format string with the headers the course lists
    /// (`Server`, `Access-Control-Allow-Origin`, `Content-Length`, `Content-Type`); errors have
    /// no body.
    Handwritten,
    /// Stage 15 on: the response module builds the head once, adding `Date`, and error pages get
    /// a small HTML body.
    Builder,
}

/// What a file route does with a folder that has no index file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directories {
    /// Stages 14-16: 404.
    NotFound,
    /// Stage 17 on: an HTML listing.
    List,
}

/// The stage's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub responses: ResponseStyle,
    pub directories: Directories,
}

/// One client's HTTP session.
pub struct HttpSession {
    site: Arc<Site>,
    options: Options,
    /// The config listener that accepted the client (stage 16 on).
    listener: Option<Listener>,
    parser: RequestParser,
    state: State,
    /// For the log line: the request line once parsed.
    request_line: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the rest of the request head.
    ReadingHead,
    /// The answer is queued (and maybe a file streaming); later client bytes are ignored.
    Answered,
    /// Relaying to and from an upstream.
    Proxying,
}

impl HttpSession {
    /// A session for a client accepted on `listener` (a config listener, from stage 16 on).
    pub fn new(site: Arc<Site>, options: Options, listener: Option<Listener>) -> HttpSession {
        HttpSession {
            site,
            options,
            listener,
            parser: RequestParser::new(),
            state: State::ReadingHead,
            request_line: String::new(),
        }
    }

    /// A factory for `PortRole::session`: one fresh session per accepted client.
    pub fn factory(
        site: Arc<Site>,
        options: Options,
        listener: Option<Listener>,
    ) -> impl Fn(&ClientInfo) -> Box<dyn SessionHandler> {
        move |_client: &ClientInfo| {
            Box::new(HttpSession::new(site.clone(), options, listener.clone()))
                as Box<dyn SessionHandler>
        }
    }

    /// Decide what to do with a complete request.
    fn dispatch(&mut self, ctx: &mut SessionCtx<'_>, request: Request) {
        self.request_line = request.request_line.clone();
        let path = match CleanPath::parse(&request.pathname) {
            Ok(path) => path,
            Err(error) => {
                phase1::debug!("{}: path refused: {error}", request.request_line);
                return self.finish(ctx, error_reply(error.status()), &request);
            }
        };
        let site = self.site.clone();
        match &*site {
            Site::Folder(root) => self.serve_files(ctx, &request, root, &[], &path),
            Site::Config(config) => {
                let Some(listener) = &self.listener else {
                    phase1::error!("a config session without its listener");
                    return self.finish(
                        ctx,
                        error_reply(StatusCode::INTERNAL_SERVER_ERROR),
                        &request,
                    );
                };
                let host = request.authority_host();
                let found = match config.lookup(listener, host.as_deref(), path.as_str()) {
                    Ok(found) => found,
                    Err(error) => return self.finish(ctx, error_reply(error.status()), &request),
                };
                match &found.route.action {
                    RouteAction::FileServe(files) => {
                        self.serve_files(ctx, &request, &files.dir_path, &files.index, &path)
                    }
                    RouteAction::Redirect { status, url } => {
                        let mut reply = Reply::new(*status);
                        reply.location = Some(url.clone());
                        self.finish(ctx, reply, &request)
                    }
                    RouteAction::ReverseProxy { upstreams } => {
                        // Stage 20 would choose among them; stage 16 uses the first.
                        self.proxy(ctx, &request, &upstreams[0])
                    }
                }
            }
        }
    }

    /// A file route: a file, an index file, a listing, or an error.
    fn serve_files(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        request: &Request,
        root: &std::path::Path,
        index: &[String],
        path: &CleanPath,
    ) {
        if !matches!(request.method, Method::Get | Method::Head) {
            // Files are only read here; nginx answers the same way.
            let mut reply = error_reply(StatusCode::METHOD_NOT_ALLOWED);
            reply.allow = true;
            return self.finish(ctx, reply, request);
        }
        match resolve(root, path, index) {
            Ok(Resolved::File(found)) => {
                phase1::debug!("{} -> {}", request.request_line, found.path.display());
                let mut reply = Reply::new(StatusCode::OK);
                reply.content_type = Some(found.mime);
                reply.length = found.size;
                ctx.send(reply.render(self.options.responses, false));
                self.state = State::Answered;
                if request.is_head() || found.size == 0 {
                    ctx.close();
                } else if let Err(error) = ctx.send_file(found.file) {
                    phase1::error!("cannot stream {}: {error:?}", found.path.display());
                    ctx.abort();
                }
            }
            Ok(Resolved::Directory(dir)) => {
                if self.options.directories == Directories::NotFound {
                    return self.finish(ctx, error_reply(StatusCode::NOT_FOUND), request);
                }
                match directory::listing(&dir, path) {
                    Ok(html) => {
                        let mut reply = Reply::new(StatusCode::OK);
                        reply.content_type = Some("text/html");
                        reply.length = html.len() as u64;
                        reply.body = html.into_bytes();
                        self.finish(ctx, reply, request)
                    }
                    Err(error) => {
                        phase1::error!("cannot list {}: {error}", dir.display());
                        let status = if error.kind() == std::io::ErrorKind::PermissionDenied {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::INTERNAL_SERVER_ERROR
                        };
                        self.finish(ctx, error_reply(status), request)
                    }
                }
            }
            Err(error) => {
                phase1::debug!("{}: {error}", request.request_line);
                self.finish(ctx, error_reply(error.status()), request)
            }
        }
    }

    /// Hand the client over to an upstream: the head goes first (re-serialised, with
    /// `Connection: close` so a keep-alive upstream also ends its answer by closing), then every
    /// further client byte raw; upstream bytes come back to the client untouched.
    fn proxy(&mut self, ctx: &mut SessionCtx<'_>, request: &Request, upstream: &Upstream) {
        let mut upstream_request = request.clone();
        upstream_request.headers.set("Connection", "close");
        match ctx.proxy(&upstream.to_string(), upstream_request.serialize_head()) {
            Ok(()) => {
                phase1::debug!("{} -> upstream {upstream}", request.request_line);
                self.state = State::Proxying;
            }
            Err(error) => {
                phase1::warn!("upstream {upstream} unreachable: {error}");
                self.finish(ctx, error_reply(StatusCode::BAD_GATEWAY), request)
            }
        }
    }

    /// Queue a complete reply and close once it is delivered.
    fn finish(&mut self, ctx: &mut SessionCtx<'_>, reply: Reply, request: &Request) {
        ctx.send(reply.render(self.options.responses, !request.is_head()));
        ctx.close();
        self.state = State::Answered;
    }

    /// Answer a request whose head could not be read, and close.
    fn reject(&mut self, ctx: &mut SessionCtx<'_>, status: StatusCode) {
        ctx.send(error_reply(status).render(self.options.responses, true));
        ctx.close();
        self.state = State::Answered;
    }
}

impl SessionHandler for HttpSession {
    fn on_client_data(&mut self, ctx: &mut SessionCtx<'_>, data: &[u8]) -> usize {
        if self.state != State::ReadingHead {
            return data.len();
        }
        match self.parser.feed(data) {
            // The parser keeps what it needs, so every byte is consumed.
            Ok(Parse::Partial) => data.len(),
            Ok(Parse::Complete { request, used }) => {
                self.dispatch(ctx, request);
                // Bytes after the head stay in the pipe: a proxy forwards them as the body.
                used
            }
            Err(error) => {
                phase1::debug!("bad request from {}: {error}", ctx.client().peer);
                self.reject(ctx, error.status());
                data.len()
            }
        }
    }

    fn on_client_eof(&mut self, ctx: &mut SessionCtx<'_>, _unconsumed: &[u8]) {
        match self.state {
            // A half-closed client still gets the upstream's answer.
            State::Proxying | State::Answered => {}
            // The client stopped in the middle of a head: tell it so.
            State::ReadingHead if self.parser.consumed() > 0 => {
                self.reject(ctx, StatusCode::BAD_REQUEST)
            }
            State::ReadingHead => ctx.close(),
        }
    }

    fn on_upstream_failed(&mut self, ctx: &mut SessionCtx<'_>) {
        phase1::warn!("upstream failed before answering: {}", self.request_line);
        ctx.send(error_reply(StatusCode::BAD_GATEWAY).render(self.options.responses, true));
        ctx.close();
        self.state = State::Answered;
    }
}

/// A response the session writes itself, in either style.
struct Reply {
    status: StatusCode,
    content_type: Option<&'static str>,
    /// The `Content-Length`: of `body`, or of the file that follows.
    length: u64,
    body: Vec<u8>,
    location: Option<String>,
    /// Add `Allow: GET, HEAD` (a 405).
    allow: bool,
}

impl Reply {
    fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            content_type: None,
            length: 0,
            body: Vec::new(),
            location: None,
            allow: false,
        }
    }

    /// The bytes to send; `with_body` is false for HEAD (same head, no body).
    fn render(&self, style: ResponseStyle, with_body: bool) -> Vec<u8> {
        match style {
            ResponseStyle::Handwritten => {
                let mut head = format!(
                    "HTTP/1.1 {}\r\nServer: eXpServer\r\nAccess-Control-Allow-Origin: *\r\n\
                     Connection: close\r\nContent-Length: {}\r\n",
                    self.status, self.length
                );
                if let Some(content_type) = self.content_type {
                    head.push_str(&format!("Content-Type: {content_type}\r\n"));
                }
                if let Some(location) = &self.location {
                    head.push_str(&format!("Location: {location}\r\n"));
                }
                if self.allow {
                    head.push_str("Allow: GET, HEAD\r\n");
                }
                head.push_str("\r\n");
                let mut bytes = head.into_bytes();
                if with_body {
                    bytes.extend_from_slice(&self.body);
                }
                bytes
            }
            ResponseStyle::Builder => {
                let mut response = if self.status.as_u16() >= 400 && self.body.is_empty() {
                    Response::error(self.status)
                } else {
                    Response::new(self.status)
                };
                if let Some(content_type) = self.content_type {
                    response.set_body(content_type, self.body.clone());
                    response.set_content_length(self.length);
                }
                if let Some(location) = &self.location {
                    response.set_header("Location", location.as_str());
                }
                if self.allow {
                    response.set_header("Allow", "GET, HEAD");
                }
                response.serialize(with_body)
            }
        }
    }
}

/// An error reply: no body of its own (the builder style adds its small page).
fn error_reply(status: StatusCode) -> Reply {
    Reply::new(status)
}
