//! [`FormTokenLayer`]: reads the `access_token` field of form bodies (RFC 6750 §2.2) for a
//! guard that accepts them ([`TokenSource::form_body`](crate::TokenSource::form_body)).
//!
//! The guard is generic over the request body and never reads it, so the body is read here,
//! in front of it. For a `POST` with `Content-Type: application/x-www-form-urlencoded` (any
//! parameters, media type compared case-insensitively) this layer buffers the body, up to
//! [`max_body_bytes`](FormTokenLayer::max_body_bytes) (default
//! [`defaults::MAX_FORM_BODY_BYTES`](crate::defaults::MAX_FORM_BODY_BYTES)), hands the
//! `access_token` field to the guard and the body, unchanged, to the service behind it. Every
//! other request passes untouched, its body still streaming. Every request is marked as seen,
//! so that a guard reading form bodies without this layer in front of it answers 500
//! ([`ErrorKind::FormLayerMissing`](crate::ErrorKind::FormLayerMissing)) instead of ignoring
//! tokens its clients send.
//!
//! This layer answers two cases itself, with an empty body and without calling the service:
//! a form body larger than the limit gets **413 Content Too Large** (a token may be anywhere in
//! the body, so a partly read body cannot be judged, and it cannot be handed on either), and a
//! body that fails to arrive (the connection broke) gets 400. Trailers of a form body are
//! dropped. Whether the body's token is used, ignored or refused (the field twice, a body that
//! is not ASCII) is the guard's decision, with its rejection handler.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # mod test {
//! use axum::{Router, body::Body, routing::post};
//! use bearer_guard::testing::TestIssuer;
//! use bearer_guard::{FormTokenLayer, GuardLayer, TokenSource};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # pub
//! async fn form_tokens() {
//!     let issuer = TestIssuer::start().await;
//!     let app = Router::new()
//!         .route("/orders", post(|body: String| async move { body }))
//!         .route_layer(
//!             GuardLayer::new(issuer.validator())
//!                 .token_source(TokenSource::form_body())
//!                 .unwrap(),
//!         )
//!         // Added after the guard, so it runs before it.
//!         .route_layer(FormTokenLayer::new());
//!
//!     let body = format!("item=42&access_token={}", issuer.token().sign());
//!     let request = Request::post("/orders")
//!         .header("content-type", "application/x-www-form-urlencoded")
//!         .body(Body::from(body.clone()))
//!         .unwrap();
//!     let response = app.oneshot(request).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK);
//!     let echoed = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
//!     assert_eq!(echoed, body); // the handler got the body as sent
//! }
//! # }
//! # #[cfg(feature = "test-util")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
//! #     .block_on(test::form_tokens());
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::guard::credential::form_decode;

/// A tower [`Layer`] that applies [`FormToken`]. See the [module docs](crate::form).
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct FormTokenLayer {
    max_body_bytes: usize,
}

impl FormTokenLayer {
    /// Buffers form bodies of up to
    /// [`defaults::MAX_FORM_BODY_BYTES`](crate::defaults::MAX_FORM_BODY_BYTES).
    pub fn new() -> Self {
        Self {
            max_body_bytes: crate::defaults::MAX_FORM_BODY_BYTES,
        }
    }

    /// The largest form body read; a larger one is answered 413 without calling the service.
    /// Only `POST` requests with a form content type are limited: other bodies pass untouched.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

impl Default for FormTokenLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for FormTokenLayer {
    type Service = FormToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FormToken {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// Reads the `access_token` field of form bodies for the guard behind it; built by
/// [`FormTokenLayer`].
#[derive(Debug, Clone)]
pub struct FormToken<S> {
    inner: S,
    max_body_bytes: usize,
}

impl<S> FormToken<S> {
    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FormToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body + From<Bytes>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready goes into the future; a fresh clone stays behind.
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        if !is_form_post(&request) {
            request
                .extensions_mut()
                .insert(FormBodyToken(FormState::Absent));
            return ResponseFuture {
                state: State::Calling {
                    future: inner.call(request),
                },
            };
        }
        let max = self.max_body_bytes;
        if let Some(response) = refuse_oversized(request.body(), max, "form") {
            return ResponseFuture {
                state: State::Refused {
                    response: Some(response),
                },
            };
        }
        let (parts, body) = request.into_parts();
        ResponseFuture {
            state: State::Reading {
                body,
                reading: Some(Reading {
                    parts,
                    inner,
                    buffer: Buffer::Empty,
                    max,
                }),
            },
        }
    }
}

/// What RFC 6750 §2.2 reads: a `POST` with one `Content-Type`, form-urlencoded.
fn is_form_post<B>(request: &Request<B>) -> bool {
    if request.method() != Method::POST {
        return false;
    }
    let mut types = request.headers().get_all(CONTENT_TYPE).iter();
    let (Some(content_type), None) = (types.next(), types.next()) else {
        return false;
    };
    let essence = content_type.as_bytes().split(|&b| b == b';').next();
    essence.is_some_and(|essence| {
        essence
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

/// 413 for a body of over `max` bytes, when its size hint already says so: before reading.
pub(crate) fn refuse_oversized<B: Body, R: Default>(
    body: &B,
    max: usize,
    what: &'static str,
) -> Option<Response<R>> {
    (body.size_hint().lower() > u64::try_from(max).unwrap_or(u64::MAX)).then(|| too_large(what))
}

fn too_large<R: Default>(what: &'static str) -> Response<R> {
    tracing::debug!(what, "body over the size limit refused with 413");
    refuse(StatusCode::PAYLOAD_TOO_LARGE)
}

pub(crate) fn refuse<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}

// ---------------------------------------------------------------------------------------------
// What the guard reads
// ---------------------------------------------------------------------------------------------

/// Put into every request this layer saw. Its `Debug` never shows the token.
#[derive(Clone)]
pub(crate) struct FormBodyToken(pub(crate) FormState);

#[derive(Clone)]
pub(crate) enum FormState {
    /// Not a form request, or no `access_token` field.
    Absent,
    /// The field's value, decoded (not yet checked against the token grammar).
    Token(Bytes),
    /// The body cannot be read as a form, or has the field twice: why.
    Malformed(&'static str),
}

impl fmt::Debug for FormBodyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            FormState::Absent => "FormBodyToken::Absent",
            FormState::Token(_) => "FormBodyToken::Token([redacted])",
            FormState::Malformed(_) => "FormBodyToken::Malformed",
        })
    }
}

/// The `access_token` field of a form body; its value shares the body's bytes unless it had
/// to be decoded.
fn parse(body: &Bytes) -> FormState {
    // RFC 6750 §2.2: "The entity-body consists solely of ASCII characters."
    if !body.is_ascii() {
        return FormState::Malformed("not ASCII");
    }
    let mut found = None;
    let mut start = 0;
    while start <= body.len() {
        let end = body[start..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(body.len(), |i| start + i);
        let pair = &body[start..end];
        let (name, value_start) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], start + eq + 1),
            None => (pair, end),
        };
        if form_decode(name).as_deref() == Some(&b"access_token"[..]) {
            if found.is_some() {
                return FormState::Malformed("access_token sent more than once");
            }
            found = Some(match form_decode(&body[value_start..end]) {
                None => return FormState::Malformed("access_token is not form-urlencoded"),
                Some(Cow::Borrowed(_)) => body.slice(value_start..end),
                Some(Cow::Owned(decoded)) => Bytes::from(decoded),
            });
        }
        start = end + 1;
    }
    found.map_or(FormState::Absent, FormState::Token)
}

// ---------------------------------------------------------------------------------------------
// The future
// ---------------------------------------------------------------------------------------------

/// A body being read: the request's parts and the service to call once it is in.
struct Reading<S> {
    parts: Parts,
    inner: S,
    buffer: Buffer,
    max: usize,
}

/// The body read so far; one chunk (the usual case) is kept as it came, without a copy.
#[derive(Default)]
pub(crate) enum Buffer {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Buffer {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(bytes) => bytes.len(),
            Self::Many(bytes) => bytes.len(),
        }
    }

    pub(crate) fn push(&mut self, mut data: impl Buf) {
        let len = data.remaining();
        if len == 0 {
            return;
        }
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(data.copy_to_bytes(len)),
            Self::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + len);
                all.extend_from_slice(&first);
                all.put(data);
                Self::Many(all)
            }
            Self::Many(mut all) => {
                all.put(data);
                Self::Many(all)
            }
        };
    }

    /// Reads `body` into the buffer until it ends: `Ok(())`, or the response for a body over
    /// `max` bytes (413) or one that fails to arrive (400), both with an empty body. Trailers
    /// are dropped: the body is handed on as one chunk. `what` names the body in the debug
    /// events (`form`, `MCP request`).
    pub(crate) fn poll_fill<B: Body, R: Default>(
        &mut self,
        mut body: Pin<&mut B>,
        max: usize,
        what: &'static str,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Response<R>>> {
        loop {
            match ready!(body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if self.len().saturating_add(data.remaining()) > max => {
                        return Poll::Ready(Err(too_large(what)));
                    }
                    Ok(data) => self.push(data),
                    Err(_trailers) => {}
                },
                Some(Err(_)) => {
                    tracing::debug!(what, "body could not be read; answered 400");
                    return Poll::Ready(Err(refuse(StatusCode::BAD_REQUEST)));
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }

    pub(crate) fn freeze(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(bytes) => bytes,
            Self::Many(bytes) => bytes.freeze(),
        }
    }
}

pin_project! {
    /// The future of [`FormToken`].
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Reading {
            #[pin]
            body: ReqBody,
            reading: Option<Reading<S>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Refused {
            response: Option<S::Response>,
        },
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + From<Bytes>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Reading { mut body, reading } => {
                    let read = reading.as_mut().expect("polled after completion");
                    let complete =
                        ready!(read.buffer.poll_fill(body.as_mut(), read.max, "form", cx));
                    let Reading {
                        parts,
                        mut inner,
                        buffer,
                        ..
                    } = reading.take().expect("polled after completion");
                    if let Err(response) = complete {
                        return Poll::Ready(Ok(response));
                    }
                    let body = buffer.freeze();
                    let token = FormBodyToken(parse(&body));
                    let mut request = Request::from_parts(parts, ReqBody::from(body));
                    request.extensions_mut().insert(token);
                    state.set(State::Calling {
                        future: inner.call(request),
                    });
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Reading { .. } => "Reading",
            State::Calling { .. } => "Calling",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &'static [u8]) -> Result<Option<Vec<u8>>, &'static str> {
        match parse(&Bytes::from_static(body)) {
            FormState::Absent => Ok(None),
            FormState::Token(token) => Ok(Some(token.to_vec())),
            FormState::Malformed(why) => Err(why),
        }
    }

    #[test]
    fn the_access_token_field_is_found_and_decoded() {
        let token = |t: &[u8]| Ok(Some(t.to_vec()));
        assert_eq!(parsed(b"access_token=a.b.c"), token(b"a.b.c"));
        assert_eq!(parsed(b"x=1&access_token=a.b.c&y=2"), token(b"a.b.c"));
        assert_eq!(parsed(b"access%5Ftoken=a%2Bb"), token(b"a+b"));
        assert_eq!(parsed(b"access_token=a+b"), token(b"a b"));
        assert_eq!(parsed(b"access_token"), token(b""));
        assert_eq!(parsed(b""), Ok(None));
        assert_eq!(parsed(b"x=1&my_access_token=a&access_token_=b"), Ok(None));
        // Other fields are not ours to judge.
        assert_eq!(parsed(b"x=%zz&access_token=a"), token(b"a"));
    }

    #[test]
    fn bodies_that_cannot_be_read_as_forms_are_malformed() {
        assert!(parsed(b"access_token=a&access_token=a").is_err());
        assert!(parsed(b"access_token=a%zz").is_err());
        assert!(parsed("x=é&access_token=a".as_bytes()).is_err());
        assert!(parsed(b"x=\xff").is_err());
    }

    #[test]
    fn an_undecoded_token_shares_the_body() {
        let body = Bytes::from(b"x=1&access_token=abc".to_vec());
        let FormState::Token(token) = parse(&body) else {
            panic!()
        };
        assert_eq!(token, "abc");
        assert_eq!(token.as_ptr(), body[17..].as_ptr());
    }

    #[test]
    fn only_posts_of_form_bodies_qualify() {
        let request = |method: Method, types: &[&str]| {
            let mut builder = Request::builder().method(method).uri("/");
            for t in types {
                builder = builder.header(CONTENT_TYPE, *t);
            }
            builder.body(()).unwrap()
        };
        for form in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            " application/x-www-form-urlencoded ;charset=utf-8",
        ] {
            assert!(is_form_post(&request(Method::POST, &[form])), "{form}");
            for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
                assert!(!is_form_post(&request(method, &[form])));
            }
        }
        for other in [
            &["application/json"][..],
            &["multipart/form-data; boundary=x"],
            &["application/x-www-form-urlencodedx"],
            &[],
            &[
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded",
            ],
        ] {
            assert!(!is_form_post(&request(Method::POST, other)), "{other:?}");
        }
    }

    #[test]
    fn the_buffer_keeps_one_chunk_and_joins_several() {
        let mut buffer = Buffer::Empty;
        buffer.push(Bytes::from_static(b""));
        assert_eq!(buffer.len(), 0);
        let first = Bytes::from(b"abc".to_vec());
        buffer.push(first.clone());
        assert!(matches!(&buffer, Buffer::One(b) if b.as_ptr() == first.as_ptr()));
        buffer.push(&b"de"[..]);
        buffer.push(&b"f"[..]);
        assert_eq!(buffer.len(), 6);
        assert_eq!(buffer.freeze(), "abcdef");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!(
            "{:?}",
            FormBodyToken(FormState::Token(Bytes::from_static(b"secret")))
        );
        assert!(!shown.contains("secret"), "{shown}");
    }

    /// A body that says it is larger than it may be, and fails if read at all.
    struct Announced(u64);

    impl From<Bytes> for Announced {
        fn from(_: Bytes) -> Self {
            Self(0)
        }
    }

    impl Body for Announced {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(Some(Err(std::io::Error::other("must not be read"))))
        }

        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact(self.0)
        }
    }

    #[tokio::test]
    async fn a_body_announced_over_the_limit_is_refused_unread() {
        use tower::ServiceExt;
        let inner = tower::service_fn(|_: Request<Announced>| async {
            Ok::<_, std::convert::Infallible>(Response::new(String::from("reached")))
        });
        let layer = FormTokenLayer::new().max_body_bytes(10);
        let request = |len| {
            Request::post("/")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Announced(len))
                .unwrap()
        };
        let over = layer.layer(inner).oneshot(request(11)).await.unwrap();
        assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // At the limit, the body is read (and here fails to arrive: 400).
        let at = layer.layer(inner).oneshot(request(10)).await.unwrap();
        assert_eq!(at.status(), StatusCode::BAD_REQUEST);
    }
}
