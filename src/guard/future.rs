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
use crate::guard::decision::conclude;
use crate::guard::dpop::Presented;
use crate::guard::layer::GuardSettings;
use crate::guard::response::{Inherited, OnRejection, respond};
use crate::verify::claims::Claims;

/// The validation of one token, owning everything it borrows.
pub(crate) type Validation<T> =
    Pin<Box<dyn Future<Output = Result<Claims<T>, AuthError>> + Send + 'static>>;

/// What a validating request still needs once its token is judged.
struct Pending<S, ReqBody, H> {
    request: Request<ReqBody>,
    presented: Presented,
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
            // Shapes the rejections of the `RequireScope` layers inside (see `Inherited`).
            on_rejection: H,
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
        presented: Presented,
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
                    presented,
                    inner,
                    settings,
                    on_rejection,
                }),
            },
        }
    }

    /// A request decided without waiting: the inner service's future, or the rejection.
    pub(crate) fn concluded(outcome: Result<S::Future, S::Response>, on_rejection: H) -> Self {
        let state = match outcome {
            Ok(future) => State::Calling {
                future,
                on_rejection,
            },
            Err(response) => State::Rejected {
                response: Some(response),
            },
        };
        Self { state }
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
                    let judged = ready!(validation.as_mut().poll(cx)).map(Some);
                    let Pending {
                        request,
                        presented,
                        mut inner,
                        settings,
                        on_rejection,
                    } = pending.take().expect("polled after completion");
                    match conclude(
                        judged,
                        &presented,
                        request,
                        &mut inner,
                        &settings,
                        &on_rejection,
                    ) {
                        Ok(future) => state.set(State::Calling {
                            future,
                            on_rejection,
                        }),
                        Err(response) => return Poll::Ready(Ok(response)),
                    }
                }
                StateProj::Calling {
                    future,
                    on_rejection,
                } => {
                    let mut response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(match Inherited::take(&mut response) {
                        Some(rejection) => respond(&*on_rejection, rejection),
                        None => response,
                    }));
                }
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
