//! A recording TCP proxy: forwards Kafka frames both ways between clients and
//! one broker and keeps every request with the response that answered it.
//!
//! It parses no more than it must: the 4-byte size prefix of every frame,
//! the first eight bytes of a request (API key, version, correlation id) and
//! the first four of a response (correlation id). Responses come back in
//! request order on a connection, so each connection keeps a queue of the
//! requests it still waits on; a request the broker never answers (a Produce
//! with `acks=0`) is skipped when a later correlation id comes back.

use std::{
    collections::VecDeque,
    io::{self, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crate::util::Result;

/// No Kafka frame we capture comes near this; anything larger is garbage.
const MAX_FRAME: usize = 64 << 20;

/// One request and, once it came, its response, both without the size prefix.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// Which client connection it travelled on, in accept order.
    pub(crate) connection: u32,
    pub(crate) api_key: i16,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    pub(crate) request: Vec<u8>,
    pub(crate) response: Option<Vec<u8>>,
}

type Log = Arc<Mutex<Vec<Exchange>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy; [`Proxy::finish`] stops it and returns what it saw.
#[derive(Debug)]
pub(crate) struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Log,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1; nothing is forwarded until
    /// [`Proxy::forward_to`] names the broker.
    pub(crate) fn bind() -> Result<(Proxy, TcpListener)> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("capture proxy: cannot listen: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("capture proxy: {e}"))?
            .port();
        let proxy = Proxy {
            port,
            stop: Arc::new(AtomicBool::new(false)),
            log: Arc::new(Mutex::new(Vec::new())),
            sockets: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        Ok((proxy, listener))
    }

    /// The port clients connect to.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Starts accepting clients on `listener`, each forwarded to
    /// `127.0.0.1:upstream`.
    pub(crate) fn forward_to(&mut self, listener: TcpListener, upstream: u16) -> Result {
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("capture proxy: {e}"))?;
        let stop = Arc::clone(&self.stop);
        let log = Arc::clone(&self.log);
        let sockets = Arc::clone(&self.sockets);
        self.acceptor = Some(thread::spawn(move || {
            accept_loop(&listener, upstream, &stop, &log, &sockets)
        }));
        Ok(())
    }

    /// Stops accepting, closes every connection, waits for the forwarding
    /// threads and returns the exchanges in the order their requests came.
    pub(crate) fn finish(mut self) -> Vec<Exchange> {
        self.stop.store(true, Ordering::SeqCst);
        let handles = self
            .acceptor
            .take()
            .and_then(|a| a.join().ok())
            .unwrap_or_default();
        for s in lock(&self.sockets).iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        for h in handles {
            let _ = h.join();
        }
        std::mem::take(&mut *lock(&self.log))
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: u16,
    stop: &AtomicBool,
    log: &Log,
    sockets: &Mutex<Vec<TcpStream>>,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    let mut next_connection = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => {
                eprintln!("capture proxy: accept failed: {e}");
                continue;
            }
        };
        let connection = next_connection;
        next_connection += 1;
        match connect(client, upstream, sockets) {
            Ok((client, broker)) => {
                handles.extend(spawn_pumps(connection, client, broker, log));
            }
            Err(e) => eprintln!("capture proxy: connection {connection}: {e}"),
        }
    }
    handles
}

/// Connects to the broker for `client` and remembers both sockets so
/// [`Proxy::finish`] can close them.
fn connect(
    client: TcpStream,
    upstream: u16,
    sockets: &Mutex<Vec<TcpStream>>,
) -> io::Result<(TcpStream, TcpStream)> {
    client.set_nonblocking(false)?;
    client.set_nodelay(true)?;
    let broker = TcpStream::connect(("127.0.0.1", upstream))?;
    broker.set_nodelay(true)?;
    let mut all = lock(sockets);
    all.push(client.try_clone()?);
    all.push(broker.try_clone()?);
    Ok((client, broker))
}

fn spawn_pumps(
    connection: u32,
    client: TcpStream,
    broker: TcpStream,
    log: &Log,
) -> Vec<JoinHandle<()>> {
    let (Ok(client2), Ok(broker2)) = (client.try_clone(), broker.try_clone()) else {
        eprintln!("capture proxy: connection {connection}: cannot clone its sockets");
        return Vec::new();
    };
    let pending: Arc<Mutex<VecDeque<usize>>> = Arc::default();
    let requests = {
        let (log, pending) = (Arc::clone(log), Arc::clone(&pending));
        thread::spawn(move || pump_requests(connection, client, broker, &log, &pending))
    };
    let responses = {
        let log = Arc::clone(log);
        thread::spawn(move || pump_responses(connection, broker2, client2, &log, &pending))
    };
    vec![requests, responses]
}

/// Client to broker: records each request before forwarding it, so its
/// response can never come back first.
fn pump_requests(
    connection: u32,
    mut client: TcpStream,
    mut broker: TcpStream,
    log: &Log,
    pending: &Mutex<VecDeque<usize>>,
) {
    loop {
        let frame = match read_frame(&mut client) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                eprintln!("capture proxy: connection {connection}: request: {e}");
                break;
            }
        };
        if let Some(head) = frame.first_chunk::<8>() {
            let exchange = Exchange {
                connection,
                api_key: i16::from_be_bytes([head[0], head[1]]),
                version: i16::from_be_bytes([head[2], head[3]]),
                correlation_id: i32::from_be_bytes([head[4], head[5], head[6], head[7]]),
                request: frame.clone(),
                response: None,
            };
            let mut all = lock(log);
            all.push(exchange);
            lock(pending).push_back(all.len() - 1);
        }
        if write_frame(&mut broker, &frame).is_err() {
            break;
        }
    }
    let _ = broker.shutdown(Shutdown::Write);
}

/// Broker to client: pairs each response with the oldest request of the
/// same correlation id still waiting.
fn pump_responses(
    connection: u32,
    mut broker: TcpStream,
    mut client: TcpStream,
    log: &Log,
    pending: &Mutex<VecDeque<usize>>,
) {
    loop {
        let frame = match read_frame(&mut broker) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                eprintln!("capture proxy: connection {connection}: response: {e}");
                break;
            }
        };
        if let Some(head) = frame.first_chunk::<4>() {
            let correlation_id = i32::from_be_bytes(*head);
            let mut all = lock(log);
            let mut waiting = lock(pending);
            while let Some(i) = waiting.pop_front() {
                if let Some(ex) = all.get_mut(i)
                    && ex.correlation_id == correlation_id
                {
                    ex.response = Some(frame.clone());
                    break;
                }
            }
        }
        if write_frame(&mut client, &frame).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}

/// One frame without its size prefix; `None` at a clean end of stream.
fn read_frame(s: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    match s.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = usize::try_from(i32::from_be_bytes(size))
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad frame size"))?;
    let mut frame = vec![0u8; size];
    s.read_exact(&mut frame)?;
    Ok(Some(frame))
}

fn write_frame(s: &mut TcpStream, frame: &[u8]) -> io::Result<()> {
    let size = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let mut buf = Vec::with_capacity(frame.len() + 4);
    buf.extend_from_slice(&size.to_be_bytes());
    buf.extend_from_slice(frame);
    s.write_all(&buf)
}
