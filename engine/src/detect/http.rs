//! HTTP echo services: a GET answered with the caller's address, as plain text or as an
//! HTML page such as checkip.dyndns.org's holding exactly one address.

use std::net::IpAddr;
use std::time::Duration;

use super::{SOURCE_TIMEOUT, Source, SourceError, SourceKind, extract_address};
use crate::provider::{BoxFuture, IpFamily};

/// An echo service is read this far; an address is in the first few bytes of any real one.
const MAX_BODY: usize = 4096;

/// One HTTP echo URL.
pub struct HttpEcho {
    clients: super::Clients,
    label: String,
    url: String,
    min_interval: Duration,
}

impl HttpEcho {
    /// Asks `url` over the family asked for, at most once per `min_interval`.
    pub fn new(
        clients: super::Clients,
        label: String,
        url: String,
        min_interval: Duration,
    ) -> Self {
        Self {
            clients,
            label,
            url,
            min_interval,
        }
    }

    async fn fetch(&self, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
        let response = self
            .clients
            .for_family(family)
            .get(&self.url)
            .header(reqwest::header::USER_AGENT, crate::provider::user_agent())
            .timeout(SOURCE_TIMEOUT)
            .send()
            .await
            .map_err(|e| SourceError::new(describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::new(format!("HTTP {status}")));
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SourceError::new(describe(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                // Cutting it could cut an address into another one.
                return Err(SourceError::new(format!(
                    "the answer is longer than {MAX_BODY} bytes (not an address echo?)"
                )));
            }
        }
        let body = String::from_utf8_lossy(&body);
        if body.trim().is_empty() {
            return Err(SourceError::new("the answer is empty"));
        }
        extract_address(&body)
            .map(|address| vec![address])
            .map_err(SourceError::new)
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {} s", SOURCE_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        crate::provider::http_failure(error).2
    }
}

impl Source for HttpEcho {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Http
    }

    fn min_interval(&self) -> Duration {
        self.min_interval
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        Box::pin(self.fetch(family))
    }
}
