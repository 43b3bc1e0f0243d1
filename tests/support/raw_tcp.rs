//! `RawTcp`: a TCP server on 127.0.0.1 for the faults an HTTP framework will not produce on
//! purpose: a connection reset, a connection closed without an answer, bytes that are not HTTP.
//! It can also answer a plain, fast `200 OK`, so a test can show the worker recovering once the
//! fault is gone, at the same URL.
//!
//! Each connection is served on a thread of its own, in the mode in force when it was accepted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a connection is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawMode {
    /// Waits for the request, then closes with it unread, so the kernel sends a TCP RST:
    /// the client sees "connection reset by peer".
    Reset,
    /// Waits for the request, then closes cleanly without a byte of answer.
    CloseWithoutAnswer,
    /// Answers the request with bytes that are not HTTP, then closes.
    Garbage,
    /// Answers `HTTP/1.1 200 OK` with a short body at once.
    Ok,
}

/// The server. Dropping it stops accepting; connections being served end on their own.
pub struct RawTcp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    mode: Mutex<RawMode>,
    connections: AtomicUsize,
    stopping: AtomicBool,
}

impl RawTcp {
    /// Binds 127.0.0.1 on a free port and serves in `mode`; accepting when this returns.
    pub fn start(mode: RawMode) -> RawTcp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("RawTcp: bind 127.0.0.1");
        let addr = listener.local_addr().expect("RawTcp: local address");
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            connections: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("raw-tcp-{}", addr.port()))
            .spawn(move || accept_loop(listener, &thread_shared))
            .expect("RawTcp: spawn the listener thread");
        RawTcp {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The mode for connections accepted from now on.
    pub fn set_mode(&self, mode: RawMode) {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RawTcp {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // `accept` blocks: one connection of our own makes it return and see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let mode = *shared.mode.lock().unwrap_or_else(PoisonError::into_inner);
        std::thread::spawn(move || serve(stream, mode));
    }
}

fn serve(mut stream: TcpStream, mode: RawMode) {
    // A client that connects and sends nothing must not hold the thread forever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    match mode {
        RawMode::Reset => {
            // Closing a socket with received data still unread makes Linux send RST, not FIN.
            let mut byte = [0u8; 1];
            let _ = stream.peek(&mut byte);
            drop(stream);
        }
        RawMode::CloseWithoutAnswer => {
            read_request_head(&mut stream);
            drop(stream);
        }
        RawMode::Garbage => {
            read_request_head(&mut stream);
            let _ = stream.write_all(b"\x00\xffSSH-2.0-not-http\r\n\x16\x03\x01garbage\r\n\r\n");
        }
        RawMode::Ok => {
            read_request_head(&mut stream);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
                  Connection: close\r\n\r\nok\n",
            );
        }
    }
}

/// Reads until the blank line that ends a request head (GET requests have no body).
fn read_request_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
}
