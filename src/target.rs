//! The real attempter: one HTTP request through a shared ureq agent.

use crate::outcome::{ErrorClass, Outcome};
use crate::request::{AttemptContext, Attempter};
use std::io;
use std::net::ToSocketAddrs;
use std::time::Duration;
use ureq::http::{Method, Request, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Where and how attempts are sent.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The URL every request fetches. Defaults to `http://127.0.0.1:8081/`,
    /// the haproxy front of `make setup`.
    pub url: String,
    /// The longest one attempt may take, from connecting to the last body
    /// byte. Defaults to 10 s.
    pub timeout: Duration,
    /// The longest connecting may take, within `timeout`. Defaults to 5 s.
    pub connect_timeout: Duration,
    /// Reuse connections between attempts. Defaults to `false`: each attempt
    /// opens its own connection, so a connection-rate limit sees every one.
    pub keep_alive: bool,
    /// The method. Defaults to GET.
    pub method: Method,
    /// A body to send with every attempt. Defaults to none.
    pub body: Option<Vec<u8>>,
}

/// Reads a method name as `--method` takes it: one of the standard methods,
/// in any case.
pub fn parse_method(name: &str) -> Result<Method, TargetError> {
    let upper = name.trim().to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "TRACE" => {
            Method::from_bytes(upper.as_bytes())
                .map_err(|_| TargetError::UnknownMethod(name.to_owned()))
        }
        _ => Err(TargetError::UnknownMethod(name.to_owned())),
    }
}

/// True for the methods RFC 9110 calls idempotent, which are safe to repeat.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            url: "http://127.0.0.1:8081/".into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            keep_alive: false,
            method: Method::GET,
            body: None,
        }
    }
}

/// Why an [`HttpTarget`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The URL did not parse, or lacked a host.
    #[error("--url '{url}' is not a valid URL: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme was not `http`.
    #[error("--url '{0}': only http:// URLs are supported (this build has no TLS)")]
    UnsupportedScheme(String),
    /// A timeout was below a millisecond.
    #[error("--{0} must be at least 1ms")]
    ZeroTimeout(&'static str),
    /// The method was not a standard one.
    #[error("--method '{0}' is not one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE")]
    UnknownMethod(String),
    /// A body was given for a method that cannot carry one.
    #[error("--method {0} cannot carry a body")]
    BodyNotAllowed(Method),
}

/// Timeouts shorter than this cannot say which phase of an attempt ran out.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Sends requests to one URL through one agent, whose clones share a
/// connection pool. Every response body is read to the end, so a kept-alive
/// connection can go back to the pool.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    agent: ureq::Agent,
    url: Uri,
    method: Method,
    body: Option<Vec<u8>>,
    timeout: Duration,
    keep_alive: bool,
}

impl HttpTarget {
    /// Checks the config and builds the agent.
    pub fn new(config: &HttpConfig) -> Result<HttpTarget, TargetError> {
        let url = parse_url(&config.url)?;
        if config.timeout < MIN_TIMEOUT {
            return Err(TargetError::ZeroTimeout("timeout"));
        }
        if config.connect_timeout < MIN_TIMEOUT {
            return Err(TargetError::ZeroTimeout("connect-timeout"));
        }
        if config.body.is_some() && config.method == Method::HEAD {
            return Err(TargetError::BodyNotAllowed(config.method.clone()));
        }
        let idle_per_host = if config.keep_alive { 3 } else { 0 };
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout.min(config.timeout)))
            .max_idle_connections_per_host(idle_per_host)
            .max_idle_connections(if config.keep_alive { 10 } else { 0 })
            .build();
        let resolver = OnceResolver::new(&url);
        let agent = ureq::Agent::with_parts(agent_config, DefaultConnector::new(), resolver);
        Ok(HttpTarget {
            agent,
            url,
            method: config.method.clone(),
            body: config.body.clone(),
            timeout: config.timeout,
            keep_alive: config.keep_alive,
        })
    }

    /// The URL attempts go to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// One request, its response read to the end; `time_left` cuts the
    /// attempt's timeout when it is shorter.
    pub fn send(&self, time_left: Option<Duration>) -> Outcome {
        let timeout = time_left.map_or(self.timeout, |left| left.min(self.timeout));
        if timeout.is_zero() {
            return Outcome::failed(ErrorClass::TimeoutResponse, "no time left for this attempt");
        }
        let result = match &self.body {
            Some(body) => self.call(body.as_slice(), timeout),
            None => self.call((), timeout),
        };
        let mut response = match result {
            Ok(response) => response,
            Err(error) => return Outcome::failed(ErrorClass::of_ureq(&error), error),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let mut body = response.body_mut().as_reader();
        match io::copy(&mut body, &mut io::sink()) {
            Ok(bytes) => Outcome::Response {
                status,
                bytes,
                retry_after,
            },
            Err(error) => Outcome::failed(ErrorClass::of_io(&error), error),
        }
    }

    fn call<B: ureq::AsSendBody>(
        &self,
        body: B,
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.url.clone());
        if !self.keep_alive {
            // Say so when the connection will not be reused (RFC 9112, 9.6):
            // the server can then free what it holds for the connection at
            // once. tiny_http, for one, keeps a thread on every open
            // connection until the client closes it.
            builder = builder.header("connection", "close");
        }
        let request = builder.body(body).map_err(ureq::Error::Http)?;
        let request = if timeout < self.timeout {
            self.agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build()
        } else {
            request
        };
        self.agent.run(request)
    }
}

impl Attempter for HttpTarget {
    fn attempt(&self, context: &AttemptContext) -> Outcome {
        self.send(context.time_left)
    }
}

/// Looks the target's host up once, when the target is built, and answers
/// from that for every attempt.
///
/// ureq's own resolver, when any timeout is set, spawns a thread for each
/// lookup so it can give up on a slow DNS; that would double the threads a
/// run starts and blur what the lab measures. A run has one URL, so one
/// lookup is enough. When the first lookup fails, or for any other host,
/// ureq's resolver is asked each time, so DNS failures are still reported
/// per attempt.
#[derive(Debug)]
struct OnceResolver {
    host_and_port: Option<String>,
    addrs: Option<ResolvedSocketAddrs>,
    fallback: DefaultResolver,
}

impl OnceResolver {
    fn new(url: &Uri) -> OnceResolver {
        let fallback = DefaultResolver::default();
        let host_and_port = host_and_port(url);
        let addrs = host_and_port.as_deref().and_then(|target| {
            let found = target.to_socket_addrs().ok()?;
            let mut addrs = fallback.empty();
            for addr in found {
                if addrs.try_push(addr).is_err() {
                    break; // ureq takes at most 16 addresses
                }
            }
            (!addrs.is_empty()).then_some(addrs)
        });
        OnceResolver {
            host_and_port,
            addrs,
            fallback,
        }
    }
}

fn host_and_port(url: &Uri) -> Option<String> {
    let scheme = url.scheme()?;
    let authority = url.authority()?;
    DefaultResolver::host_and_port(scheme, authority)
}

impl Resolver for OnceResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match &self.addrs {
            Some(addrs) if host_and_port(uri) == self.host_and_port => Ok(addrs.clone()),
            _ => self
                .fallback
                .resolve(uri, config, timeout)
                .map_err(lookup_failure),
        }
    }
}

/// A failed name lookup as ureq should have said it: std reports
/// getaddrinfo's failures as plain I/O errors, which would read as `other`.
fn lookup_failure(error: ureq::Error) -> ureq::Error {
    match error {
        ureq::Error::Io(_) => ureq::Error::HostNotFound,
        other => other,
    }
}

fn parse_url(text: &str) -> Result<Uri, TargetError> {
    let bad = |reason: &str| TargetError::BadUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url: Uri = text
        .parse()
        .map_err(|err: ureq::http::uri::InvalidUri| bad(&err.to_string()))?;
    match url.scheme_str() {
        Some("http") => {}
        Some(_) => return Err(TargetError::UnsupportedScheme(text.to_owned())),
        None => return Err(bad("it has no scheme; try http://HOST:PORT/")),
    }
    match url.host() {
        Some(host) if !host.is_empty() => {}
        _ => return Err(bad("it has no host")),
    }
    // The http crate keeps a port it cannot read as no port at all, and
    // ureq then quietly uses the scheme's default: refuse it here instead.
    if let Some(port) = port_text(&url).filter(|port| !port.is_empty()) {
        match port.parse::<u16>() {
            Ok(0) => return Err(bad("port 0 cannot be connected to")),
            Ok(_) => {}
            Err(_) => return Err(bad(&format!("'{port}' is not a port from 1 to 65535"))),
        }
    }
    Ok(url)
}

/// The text after the host's colon, if the authority has one.
fn port_text(url: &Uri) -> Option<&str> {
    let authority = url.authority()?.as_str();
    let host_and_port = authority.rsplit('@').next()?;
    let after_host = match host_and_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.1,
        None => host_and_port
            .find(':')
            .map(|colon| &host_and_port[colon..])?,
    };
    after_host.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> HttpConfig {
        HttpConfig {
            url: url.into(),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn http_urls_with_a_host_are_accepted() {
        for url in [
            "http://127.0.0.1:8081/",
            "http://localhost/x?y=1",
            "http://[::1]:8081/",
            "http://127.0.0.1:/",
        ] {
            assert!(HttpTarget::new(&config(url)).is_ok(), "{url}");
        }
    }

    #[test]
    fn malformed_urls_are_refused_with_the_url_named() {
        for url in [
            "",
            "not a url",
            "127.0.0.1:8081",
            "/path",
            "http://",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:65536/",
            "http://127.0.0.1:abc/",
            "http://127.0.0.1:0/",
        ] {
            let error = HttpTarget::new(&config(url)).expect_err(url);
            assert!(
                matches!(error, TargetError::BadUrl { .. }),
                "{url}: {error}"
            );
            assert!(error.to_string().contains(&format!("'{url}'")), "{error}");
        }
        assert_eq!(
            HttpTarget::new(&config("https://127.0.0.1/")).expect_err("https"),
            TargetError::UnsupportedScheme("https://127.0.0.1/".into())
        );
    }

    #[test]
    fn a_failed_lookup_is_a_dns_failure() {
        let lookup = ureq::Error::Io(io::Error::other("failed to lookup address information"));
        assert_eq!(
            ErrorClass::of_ureq(&lookup_failure(lookup)),
            ErrorClass::Dns
        );
        let timeout = ureq::Error::Timeout(ureq::Timeout::Resolve);
        assert_eq!(
            ErrorClass::of_ureq(&lookup_failure(timeout)),
            ErrorClass::TimeoutConnect
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let zero = HttpConfig {
            timeout: Duration::ZERO,
            ..HttpConfig::default()
        };
        assert_eq!(
            HttpTarget::new(&zero).expect_err("zero timeout"),
            TargetError::ZeroTimeout("timeout")
        );
    }

    #[test]
    fn a_closed_port_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        drop(listener);
        let target = HttpTarget::new(&config(&format!("http://{addr}/"))).expect("a valid target");
        let outcome = target.send(None);
        assert_eq!(
            outcome.class(),
            crate::AttemptClass::Error(ErrorClass::Refused),
            "{outcome:?}"
        );
    }
}

#[cfg(test)]
mod connect_timeout_tests {
    use super::*;
    use socket2::{Domain, Socket, Type};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Instant;

    /// A listener that never accepts, its accept queue already full, so a
    /// new connection's SYN goes unanswered: the way to meet a connect
    /// timeout without leaving the loopback interface.
    fn full_listener() -> (Socket, SocketAddr, Vec<TcpStream>) {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        socket.bind(&any.into()).expect("bind");
        socket.listen(0).expect("listen");
        let addr = socket
            .local_addr()
            .expect("an address")
            .as_socket()
            .expect("an IP address");
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                fillers.push(stream);
            }
        }
        (socket, addr, fillers)
    }

    #[test]
    fn an_unanswered_connect_is_a_connect_timeout_within_its_bound() {
        let (_listener, addr, _fillers) = full_listener();
        let target = HttpTarget::new(&HttpConfig {
            url: format!("http://{addr}/"),
            connect_timeout: Duration::from_millis(300),
            ..HttpConfig::default()
        })
        .expect("a valid target");
        let before = Instant::now();
        let outcome = target.send(None);
        let took = before.elapsed();
        assert_eq!(
            outcome.class(),
            crate::AttemptClass::Error(ErrorClass::TimeoutConnect),
            "{outcome:?}"
        );
        assert!(took >= Duration::from_millis(280), "{took:?}");
        assert!(took < Duration::from_millis(1300), "{took:?}");
    }
}
