//! The HTTP client every update goes through, and its proxy policy.

use super::*;

/// Builds the client `make` describes. On a system without CA certificates (a minimal
/// install without the `ca-certificates` package) the platform's certificate verifier
/// cannot start, and building fails; the client is then built trusting no certificate:
/// plain HTTP to loopback still works, every HTTPS request fails with a certificate
/// error, and the log says why. The process carries on either way; only a TLS library
/// that cannot start at all is an error.
pub fn build_client(
    make: impl Fn() -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, EngineError> {
    make().build().or_else(|e| {
        tracing::error!(
            error = %e,
            "the system's CA certificates cannot be loaded (is ca-certificates installed?): \
             every HTTPS request will fail"
        );
        make()
            .tls_certs_only(Vec::new())
            .build()
            .map_err(|e| EngineError::Unsupported(format!("the HTTP client cannot start: {e}")))
    })
}

/// The client every provider's update goes through: no redirects, a connect time-out,
/// a proxy only for HTTPS to a remote server (see [`update_proxy`]), one connection per
/// request, and `departure` fired when that connection is open.
pub fn update_client(departure: &Departure) -> Result<reqwest::Client, EngineError> {
    update_client_with(departure, &ProxyEnv::from_env())
}

/// [`update_client`] with the proxy settings given (tests cannot set variables safely).
pub fn update_client_with(
    departure: &Departure,
    proxy_env: &ProxyEnv,
) -> Result<reqwest::Client, EngineError> {
    let proxy = update_proxy(proxy_env);
    build_client(|| {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            // A pooled connection would carry a request without a new connection, so the
            // departure would not fire: updates are rare, each gets its own connection.
            .pool_max_idle_per_host(0)
            .connector_layer(departure.layer())
            .no_proxy();
        match &proxy {
            Some(proxy) => builder.proxy(proxy.clone()),
            None => builder,
        }
    })
}

/// The proxy settings in the environment, as read once when a client is made.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY`, else `ALL_PROXY` (either case).
    pub https: Option<String>,
    /// `NO_PROXY` (either case).
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// Reads the variables.
    pub fn from_env() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        Self {
            https: var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: var(&["NO_PROXY", "no_proxy"]),
        }
    }
}

/// Addresses that never go through a proxy, whatever `NO_PROXY` says.
pub(super) const NEVER_PROXIED: &str = "localhost,127.0.0.0/8,::1";

/// The proxy for updates: the system's HTTPS proxy, for `https://` servers only, never
/// for loopback. Credentials go to a remote server only over HTTPS, which a proxy
/// tunnels (CONNECT) without seeing them; plain `http://` goes only to loopback, which
/// a proxy could only intercept, so it is always direct. `HTTP_PROXY` is not used.
pub fn update_proxy(env: &ProxyEnv) -> Option<reqwest::Proxy> {
    let url = env.https.as_deref()?;
    let no_proxy = match env.no_proxy.as_deref() {
        Some(list) => format!("{list},{NEVER_PROXIED}"),
        None => NEVER_PROXIED.to_owned(),
    };
    match reqwest::Proxy::https(url) {
        Ok(proxy) => Some(proxy.no_proxy(reqwest::NoProxy::from_string(&no_proxy))),
        Err(e) => {
            tracing::warn!(error = %e, "the HTTPS proxy in the environment is not usable; \
                updates go direct");
            None
        }
    }
}

/// A plain client (no redirects, a connect time-out), for the address sources' fallback.
pub fn http_client() -> Result<reqwest::Client, EngineError> {
    build_client(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
    })
}
