//! A TCP relay in front of tiny_http, for the faults that cut connections.
//!
//! tiny_http owns its sockets and offers no way to drop a connection without
//! answering: a request dropped unanswered gets a 500. When the server has to
//! reset connections (`--reset-rate`, a `reset` or `refuse` outage), it
//! listens on the public address itself and relays each connection to
//! tiny_http on a private loopback port, two threads a connection. A worker
//! that must reset a request asks the relay to cut the client's connection,
//! found by the private address tiny_http reports as the request's peer.

use crate::faults::{Outage, OutageKind};
use log::{debug, info, warn};
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the accept loop looks for a new connection or a stop.
const POLL: Duration = Duration::from_millis(1);

/// One client connection being relayed.
struct Link {
    client: TcpStream,
    public_peer: SocketAddr,
    cut: AtomicBool,
}

type Links = Arc<Mutex<HashMap<SocketAddr, Arc<Link>>>>;

/// The running relay; dropping it stops the accept loop (links in progress
/// end when their connections do).
pub(crate) struct Relay {
    links: Links,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    /// Relays connections accepted on `public` to tiny_http at `private`.
    /// `outages` of kind reset or refuse are applied at accept time, counted
    /// from `started`.
    pub(crate) fn start(
        public: TcpListener,
        private: SocketAddr,
        outages: Vec<Outage>,
        started: Instant,
        on_outage_reset: Box<dyn Fn(SocketAddr) + Send>,
    ) -> io::Result<Relay> {
        public.set_nonblocking(true)?;
        let links: Links = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = Acceptor {
            public_addr: public.local_addr()?,
            listener: Some(public),
            private,
            outages,
            started,
            links: Arc::clone(&links),
            stopping: Arc::clone(&stopping),
            on_outage_reset,
        };
        let acceptor = thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || acceptor.run())?;
        Ok(Relay {
            links,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// The client's own address for the connection tiny_http sees from `private_peer`.
    pub(crate) fn public_peer(&self, private_peer: SocketAddr) -> Option<SocketAddr> {
        lock(&self.links)
            .get(&private_peer)
            .map(|link| link.public_peer)
    }

    /// Resets the client connection behind `private_peer`: the client sees
    /// a reset, not an answer. Returns false when no such link exists.
    pub(crate) fn cut(&self, private_peer: SocketAddr) -> bool {
        let Some(link) = lock(&self.links).remove(&private_peer) else {
            return false;
        };
        link.cut.store(true, Ordering::SeqCst);
        reset(&link.client);
        true
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn lock(links: &Links) -> MutexGuard<'_, HashMap<SocketAddr, Arc<Link>>> {
    // The map is only inserted into and removed from; a panic elsewhere
    // cannot leave it half-changed.
    links
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes the last close of `stream` send a RST, and stops reads on it so the
/// relay threads let go of it. Shutting down reads sends nothing to the peer.
fn reset(stream: &TcpStream) {
    if let Err(err) = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        debug!("could not set SO_LINGER for a reset: {err}");
    }
    let _ = stream.shutdown(Shutdown::Read);
}

struct Acceptor {
    public_addr: SocketAddr,
    listener: Option<TcpListener>,
    private: SocketAddr,
    outages: Vec<Outage>,
    started: Instant,
    links: Links,
    stopping: Arc<AtomicBool>,
    /// Told of each connection a reset outage turns away.
    on_outage_reset: Box<dyn Fn(SocketAddr) + Send>,
}

impl Acceptor {
    fn run(mut self) {
        while !self.stopping.load(Ordering::SeqCst) {
            let since_start = self.started.elapsed();
            let outage = self
                .outages
                .iter()
                .find(|outage| outage.covers(since_start))
                .map(|outage| outage.kind);
            if outage == Some(OutageKind::Refuse) {
                // Close the listener so connections are refused, and open it
                // again when the outage is over.
                if self.listener.take().is_some() {
                    info!("outage: listener closed, connections are refused");
                }
                thread::sleep(POLL);
                continue;
            }
            let Some(listener) = self.listening() else {
                thread::sleep(POLL * 10);
                continue;
            };
            match listener.accept() {
                Ok((client, peer)) => {
                    if outage == Some(OutageKind::Reset) {
                        info!("outage: connection from {peer} reset");
                        (self.on_outage_reset)(peer);
                        reset(&client);
                    } else if let Err(err) = self.relay(client, peer) {
                        warn!("could not relay the connection from {peer}: {err}");
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
                Err(err) => {
                    warn!("could not accept a connection: {err}");
                    thread::sleep(POLL);
                }
            }
        }
    }

    /// The listener, bound again after a refuse outage.
    fn listening(&mut self) -> Option<&TcpListener> {
        if self.listener.is_none() {
            match TcpListener::bind(self.public_addr).and_then(|listener| {
                listener.set_nonblocking(true)?;
                Ok(listener)
            }) {
                Ok(listener) => {
                    info!("outage over: listening on {} again", self.public_addr);
                    self.listener = Some(listener);
                }
                Err(err) => {
                    warn!("could not listen on {} again: {err}", self.public_addr);
                    return None;
                }
            }
        }
        self.listener.as_ref()
    }

    fn relay(&self, client: TcpStream, public_peer: SocketAddr) -> io::Result<()> {
        client.set_nonblocking(false)?;
        let _ = client.set_nodelay(true);
        let upstream = TcpStream::connect(self.private)?;
        let _ = upstream.set_nodelay(true);
        let private_peer = upstream.local_addr()?;
        let link = Arc::new(Link {
            client,
            public_peer,
            cut: AtomicBool::new(false),
        });
        lock(&self.links).insert(private_peer, Arc::clone(&link));
        let upstream_reader = upstream.try_clone()?;

        let up_link = Arc::clone(&link);
        thread::Builder::new()
            .name("relay-up".into())
            .spawn(move || {
                let _ = io::copy(&mut &up_link.client, &mut &upstream);
                // The client is done sending, or was cut: tell tiny_http.
                let _ = upstream.shutdown(Shutdown::Write);
            })?;
        let links = Arc::clone(&self.links);
        thread::Builder::new()
            .name("relay-down".into())
            .spawn(move || {
                let _ = io::copy(&mut &upstream_reader, &mut &link.client);
                if !link.cut.load(Ordering::SeqCst) {
                    let _ = link.client.shutdown(Shutdown::Write);
                }
                lock(&links).remove(&private_peer);
            })?;
        Ok(())
    }
}
