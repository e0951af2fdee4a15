//! Response futures: a small state machine per request.
//!
//! [`ResponseFuture`] (the guard's): validating → calling the inner service, or rejected.
//! [`RejectOr`] (the scope check's): calling the inner service, or rejected.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::AuthError;
use crate::guard::layer::GuardSettings;
use crate::guard::response::{OnRejection, Rejection, respond};
use crate::guard::service::admit;
use crate::verify::claims::Claims;

/// The validation of one token, owning everything it borrows.
pub(crate) type Validation<T> =
    Pin<Box<dyn Future<Output = Result<Claims<T>, AuthError>> + Send + 'static>>;

/// What a validating request still needs once its token is judged.
struct Pending<S, ReqBody, H> {
    request: Request<ReqBody>,
    inner: S,
    settings: Arc<GuardSettings>,
    on_rejection: H,
}

pin_project! {
    /// The future of [`Guard`](crate::Guard).
    pub struct ResponseFuture<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, T, H>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, T, H>
    where
        S: Service<Request<ReqBody>>,
    {
        Validating {
            validation: Validation<T>,
            pending: Option<Pending<S, ReqBody, H>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<S::Response>,
        },
    }
}

impl<S, ReqBody, T, H> ResponseFuture<S, ReqBody, T, H>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn validate(
        validation: Validation<T>,
        request: Request<ReqBody>,
        inner: S,
        settings: Arc<GuardSettings>,
        on_rejection: H,
    ) -> Self {
        Self {
            state: State::Validating {
                validation,
                pending: Some(Pending {
                    request,
                    inner,
                    settings,
                    on_rejection,
                }),
            },
        }
    }

    pub(crate) fn call(mut inner: S, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Calling {
                future: inner.call(request),
            },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, ReqBody, T, H, ResBody> Future for ResponseFuture<S, ReqBody, T, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    T: Send + Sync + 'static,
    H: OnRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Validating {
                    validation,
                    pending,
                } => {
                    let outcome = ready!(validation.as_mut().poll(cx));
                    let Pending {
                        mut request,
                        mut inner,
                        settings,
                        on_rejection,
                    } = pending.take().expect("polled after completion");
                    let error = match outcome {
                        Ok(claims) => match &settings.required {
                            Some(required) if !required.is_satisfied_by(claims.scopes()) => {
                                Rejection::insufficient_scope(&settings.challenge, required)
                            }
                            _ => {
                                admit(&mut request, claims, &settings);
                                let future = inner.call(request);
                                state.set(State::Calling { future });
                                continue;
                            }
                        },
                        Err(error) => Rejection::new(error, &settings.challenge),
                    };
                    return Poll::Ready(Ok(respond(&on_rejection, error)));
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}

impl<S, ReqBody, T, H> fmt::Debug for ResponseFuture<S, ReqBody, T, H>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Validating { .. } => "Validating",
            State::Calling { .. } => "Calling",
            State::Rejected { .. } => "Rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

pin_project! {
    /// The future of [`RequireScope`](crate::RequireScope): the inner service's, or a
    /// rejection.
    pub struct RejectOr<F, R> {
        #[pin]
        state: RejectOrState<F, R>,
    }
}

pin_project! {
    #[project = RejectOrProj]
    enum RejectOrState<F, R> {
        Inner {
            #[pin]
            future: F,
        },
        Rejected {
            response: Option<R>,
        },
    }
}

impl<F, R> RejectOr<F, R> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: RejectOrState::Inner { future },
        }
    }

    pub(crate) fn rejected(response: R) -> Self {
        Self {
            state: RejectOrState::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, R, E> Future for RejectOr<F, R>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            RejectOrProj::Inner { future } => future.poll(cx),
            RejectOrProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}

impl<F, R> fmt::Debug for RejectOr<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            RejectOrState::Inner { .. } => "RejectOr::Inner",
            RejectOrState::Rejected { .. } => "RejectOr::Rejected",
        })
    }
}
