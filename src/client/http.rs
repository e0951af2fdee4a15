//! The HTTP requests of the token source (token requests and discovery): through its own
//! client, or through one the user gave, with the same rules enforced on each request.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, Url, redirect};

use super::error::{EndpointError, EndpointErrorKind};
use crate::error::ConfigError;

/// An HTTP client and the rules every request through it follows.
#[derive(Debug)]
pub(crate) struct Http {
    client: Client,
    timeout: Duration,
    max_response_bytes: usize,
}

/// An answer, read whole (within the cap).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Http {
    /// Our own client: credentials are never sent anywhere but to the configured (or
    /// discovered) endpoint, so no redirects.
    pub(crate) fn own(timeout: Duration, max_response_bytes: usize) -> Result<Self, ConfigError> {
        let client = Client::builder()
            .connect_timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        Ok(Self::given(client, timeout, max_response_bytes))
    }

    /// The user's client (proxy, CA, client certificate, pool). Its redirect policy is its
    /// own; an answer from another URL than the one asked is refused (see [`send`](Self::send)).
    pub(crate) fn given(client: Client, timeout: Duration, max_response_bytes: usize) -> Self {
        Self {
            client,
            timeout,
            max_response_bytes,
        }
    }

    pub(crate) fn get(&self, url: &Url) -> RequestBuilder {
        self.client.get(url.clone())
    }

    pub(crate) fn post(&self, url: &Url) -> RequestBuilder {
        self.client.post(url.clone())
    }

    /// Sends `request` (to `url`) with the timeout, and reads the answer within the size cap.
    pub(crate) async fn send(
        &self,
        url: &Url,
        request: RequestBuilder,
    ) -> Result<Answer, EndpointError> {
        // Per request, so that it holds on a user's client too; it covers connecting, sending
        // and reading the whole body.
        let mut response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| EndpointError::from_reqwest(url, e))?;
        let status = response.status().as_u16();
        if response.url() != url {
            // A user's client followed a redirect: the request (and its credentials) went
            // elsewhere, which cannot be undone; the answer at least is not trusted.
            return Err(EndpointError::new(EndpointErrorKind::Redirected, url).with_status(status));
        }
        let too_large = || EndpointError::new(EndpointErrorKind::TooLarge, url).with_status(status);
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| EndpointError::from_reqwest(url, e).with_status(status))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers: response.headers().clone(),
            body,
        })
    }
}
