use bytes::{Buf, Bytes};
use http_body_util::{Empty, Full};

/// A request body that may be sent a second time.
///
/// [`Bearer`](super::Bearer) retries a request once when the API answers `401` with
/// `error="invalid_token"`, and only when it can send the same body again: it asks for a copy
/// with [`try_replay`](Self::try_replay) before sending. A body that returns `None` (a stream)
/// is sent once, and the `401` is returned as it came.
///
/// Implemented for bodies held in memory: `()`, `String`, `Vec<u8>`, `&'static str`,
/// `&'static [u8]`, [`Bytes`], `http_body_util`'s [`Full`] and [`Empty`], and
/// [`reqwest::Body`] when it is not a stream (a stream gives `None`).
///
/// Not for streams: `axum::body::Body`, `hyper::body::Incoming`, `reqwest::Body::wrap_stream`
/// are read as they are sent, and what was sent is gone; keeping a copy would mean buffering
/// any upload whole, unbounded. To have such a request retried, collect the body first
/// (`http_body_util::BodyExt::collect`, within a size limit of yours) into `Bytes`. For a body
/// type of your own:
///
/// ```
/// use bearer_guard::client::ReplayBody;
///
/// struct Upload(std::sync::Arc<[u8]>);
///
/// impl ReplayBody for Upload {
///     fn try_replay(&self) -> Option<Self> {
///         Some(Upload(self.0.clone()))
///     }
/// }
///
/// struct Stream; // read once
///
/// impl ReplayBody for Stream {
///     fn try_replay(&self) -> Option<Self> {
///         None
///     }
/// }
/// ```
pub trait ReplayBody: Sized {
    /// A copy of the body to send again, or `None` if it cannot be sent again.
    fn try_replay(&self) -> Option<Self>;
}

macro_rules! replay_by_clone {
    ($($ty:ty),* $(,)?) => {
        $(impl ReplayBody for $ty {
            fn try_replay(&self) -> Option<Self> {
                Some(self.clone())
            }
        })*
    };
}

replay_by_clone!((), String, Vec<u8>, &'static str, &'static [u8], Bytes);

impl<D: Buf + Clone> ReplayBody for Full<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for Empty<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl ReplayBody for reqwest::Body {
    /// A copy of a body held in memory; `None` for a stream.
    fn try_replay(&self) -> Option<Self> {
        self.as_bytes()
            .map(|bytes| reqwest::Body::from(Bytes::copy_from_slice(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_in_memory_replay() {
        assert_eq!("abc".to_owned().try_replay().unwrap(), "abc");
        assert_eq!(Bytes::from_static(b"x").try_replay().unwrap(), "x");
        assert!(Full::new(Bytes::from_static(b"x")).try_replay().is_some());
        assert!(Empty::<Bytes>::new().try_replay().is_some());
        let body = reqwest::Body::from("abc");
        assert_eq!(body.try_replay().unwrap().as_bytes(), Some(&b"abc"[..]));
        let stream = reqwest::Body::wrap(Full::new(Bytes::from_static(b"streamed")));
        assert!(stream.try_replay().is_none());
    }
}
