//! `SmtpSink`: a real SMTP server on 127.0.0.1 that keeps every message it accepts, so a test
//! can send mail through lettre's real `AsyncSmtpTransport` and then read what arrived.
//!
//! It runs on std threads: a listener thread that accepts, and one thread per connection. It speaks
//! the part of ESMTP that lettre uses over a plain connection: the 220 greeting, EHLO and HELO,
//! AUTH PLAIN and AUTH LOGIN, MAIL FROM, RCPT TO, DATA (dot-unstuffed, ended by a lone `.`),
//! RSET, NOOP and QUIT; anything else, STARTTLS included, gets 502. Several messages per
//! connection and several connections at once both work.
//!
//! EHLO advertises `8BITMIME` and `SMTPUTF8` (lettre refuses to send a non-ASCII message, such as
//! one with an 8bit body, to a server that lacks them) and, unless auth is disabled,
//! `AUTH PLAIN LOGIN`. It never advertises STARTTLS: the tests talk plain SMTP.
//!
//! Faults (a slow server, a rejected recipient or message, a server that is down) can be switched
//! on and off at any time from the test thread; each connection reads them afresh before every
//! reply, so a change applies to the very next reply, even on a connection already open.
//!
//! Dropping the sink stops it: it stops accepting, cuts every open connection and joins all its
//! threads, so nothing outlives the test.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose;
use base64::Engine as _;
use mail_parser::parsers::MessageStream;
use mail_parser::{Message, MessageParser};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// A line longer than this (a broken client, not lettre) ends the connection rather than
/// growing a buffer without bound.
const MAX_LINE_BYTES: u64 = 1024 * 1024;
/// The same for a whole message: lettre never comes near it in a test.
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// How often a reply delay looks up from its sleep to see whether the sink is stopping.
const DELAY_SLICE: Duration = Duration::from_millis(10);

/// One message the sink accepted (the end of its DATA was answered 250).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender from `MAIL FROM:<...>`, without the angle brackets (empty for `<>`).
    pub from: String,
    /// The envelope recipients from each accepted `RCPT TO:<...>`, in order.
    pub to: Vec<String>,
    /// The message exactly as sent between DATA's 354 and the terminating `CRLF.CRLF`, after
    /// dot-unstuffing: headers, blank line, still-encoded body. For a lettre `Message` this is
    /// `message.formatted()`. Bytes that are not UTF-8 are replaced with U+FFFD.
    pub data: String,
    /// The credentials the connection authenticated with before this message, if any.
    pub auth: Option<(String, String)>,
}

impl ReceivedMail {
    /// The first header called `name` (any case), unfolded, with RFC 2047 encoded-words
    /// (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) decoded, and surrounding whitespace trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| decode_encoded_words(value.trim()))
    }

    /// All headers in order as (name, unfolded raw value); encoded-words are left as they are.
    pub fn headers(&self) -> Vec<(String, String)> {
        let Some(message) = self.parsed() else {
            return Vec::new();
        };
        message
            .headers()
            .iter()
            .map(|header| {
                // The offsets fall next to ASCII (the colon, line ends): always char boundaries.
                let text = |from: u32, to: u32| {
                    self.data
                        .get(from as usize..to as usize)
                        .unwrap_or_default()
                };
                // The name as written (mail-parser spells the ones it knows its own way).
                let name = text(header.offset_field, header.offset_start);
                let name = name.trim_end_matches(':').trim();
                // Unfolding drops each line break and keeps the blank after it (RFC 5322 2.2.3).
                let value = text(header.offset_start, header.offset_end);
                let value = value.trim_start().trim_end_matches(['\r', '\n']);
                (
                    name.to_string(),
                    value.replace("\r\n", "").replace('\n', ""),
                )
            })
            .collect()
    }

    /// The decoded `Subject` header.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The body as readable text: undone quoted-printable or base64 transfer encoding (lettre
    /// picks 7bit, quoted-printable or base64 by itself for a text body, or 8bit if asked), read
    /// in its charset, with CRLF line ends turned back into `\n`. For a multipart message, the
    /// first text body part (`text/plain` preferred, searched depth first); failing any, the
    /// first part that is not multipart, read as UTF-8.
    pub fn body(&self) -> String {
        let Some(message) = self.parsed() else {
            return String::new();
        };
        // The text part as it is (HTML left HTML); else the first part that is not multipart.
        let part = message
            .text_part(0)
            .or_else(|| message.parts.iter().find(|part| !part.is_multipart()));
        part.map_or_else(String::new, |part| {
            String::from_utf8_lossy(part.contents()).replace("\r\n", "\n")
        })
    }

    /// The message parsed by mail-parser: folded headers, encoded-words, transfer encodings,
    /// multipart and charsets are its business. `None` only for an empty message.
    fn parsed(&self) -> Option<Message<'_>> {
        MessageParser::default().parse(self.data.as_bytes())
    }
}

/// Who may send mail, and what EHLO says about AUTH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthPolicy {
    /// Advertise `AUTH PLAIN LOGIN`, accept any credentials and record them; a client that does
    /// not authenticate may send all the same. The default.
    #[default]
    AcceptAny,
    /// Advertise `AUTH PLAIN LOGIN`, accept only these credentials (535 otherwise), and answer
    /// MAIL FROM with 530 until the connection has authenticated.
    Require { user: String, pass: String },
    /// Advertise no AUTH and answer the AUTH command with 502, like a relay that needs none.
    Disabled,
}

/// The settings a test can change at any time; every connection reads them before each reply.
#[derive(Debug, Clone, Default)]
struct Settings {
    reply_delay: Duration,
    reject_rcpt: Option<(u16, String)>,
    reject_data: Option<(u16, String)>,
    down: bool,
    auth: AuthPolicy,
}

/// State shared by the test's handle, the listener thread and the connection threads.
#[derive(Default)]
struct Shared {
    /// Set by `Drop`: every thread winds down when it sees it.
    stopping: AtomicBool,
    settings: Mutex<Settings>,
    messages: Mutex<Vec<ReceivedMail>>,
    /// Signalled whenever a message is added, for `wait_for_messages`.
    message_added: Condvar,
    commands: Mutex<Vec<String>>,
    connections: AtomicUsize,
    /// A clone of every open connection's socket, so `set_down` and `Drop` can cut them off
    /// even while their threads are blocked reading.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// Locks a mutex even if a panicking test thread poisoned it: the data is plain values that a
/// panic cannot leave half-written, and one failed assertion must not cascade into the server.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// True once the sink is stopping or down: connections then end without another word.
    fn should_hang_up(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) || lock(&self.settings).down
    }

    /// Cuts every open connection; their threads see the socket closed and end.
    fn close_open_connections(&self) {
        for stream in lock(&self.open).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The SMTP server. See the module docs.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener_thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Binds 127.0.0.1 on a free port and serves on a background thread; it is accepting
    /// connections by the time this returns. Auth policy: [`AuthPolicy::AcceptAny`].
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("SmtpSink: bind 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("SmtpSink: local address of the listener bound on 127.0.0.1");
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let listener_thread = std::thread::Builder::new()
            .name(format!("smtp-sink-{}", addr.port()))
            .spawn(move || accept_loop(listener, thread_shared))
            .expect("SmtpSink: spawn the listener thread");
        SmtpSink {
            addr,
            shared,
            listener_thread: Some(listener_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`: a plain connection, for `AsyncSmtpTransport::from_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// `smtp://USER:PASS@127.0.0.1:PORT`, user and password percent-encoded (lettre decodes
    /// them), so any characters work.
    pub fn url_with_credentials(&self, user: &str, pass: &str) -> String {
        format!(
            "smtp://{}:{}@127.0.0.1:{}",
            percent_encode(user),
            percent_encode(pass),
            self.port()
        )
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.messages).clone()
    }

    /// Blocks until at least `count` messages have been accepted or `timeout` has passed;
    /// returns whether they had. Blocks the calling thread, so from async code run it in
    /// `spawn_blocking`, or poll [`messages`](Self::messages) with an async sleep instead.
    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut messages = lock(&self.shared.messages);
        while messages.len() < count {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            messages = self
                .shared
                .message_added
                .wait_timeout(messages, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// How many TCP connections the sink has accepted, including those it closed at once
    /// because it was down. lettre without its `pool` feature opens one per message.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every command line received, in order, as sent without the CRLF (AUTH lines and their
    /// base64 continuations included; message content is not). For debugging and for asserting
    /// on the conversation, e.g. that the client sent QUIT.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// Waits this long before every reply, the greeting included, to simulate a slow server.
    pub fn set_reply_delay(&self, delay: Duration) {
        lock(&self.shared.settings).reply_delay = delay;
    }

    /// `Some((code, text))` answers every RCPT TO with that reply, e.g.
    /// `Some((550, "5.1.1 mailbox unavailable".into()))`; `None` accepts recipients again.
    /// Use a 4xx or 5xx code: lettre treats anything else as success.
    pub fn reject_with(&self, reply: Option<(u16, String)>) {
        lock(&self.shared.settings).reject_rcpt = reply;
    }

    /// `Some((code, text))` answers the end of every DATA with that reply, e.g.
    /// `Some((554, "5.7.1 message refused".into()))`, and the message is not kept; `None`
    /// accepts messages again.
    pub fn reject_data_with(&self, reply: Option<(u16, String)>) {
        lock(&self.shared.settings).reject_data = reply;
    }

    /// `true`: the server is down. The port stays bound and connections are still accepted (so
    /// the port cannot be taken by anything else meanwhile), but each is closed at once without
    /// a greeting, and every connection already open is cut; a client sees its connection
    /// closed, not refused. `false`: serve normally again.
    pub fn set_down(&self, down: bool) {
        lock(&self.shared.settings).down = down;
        if down {
            self.shared.close_open_connections();
        }
    }

    /// Who may send; applies to connections from the next EHLO or AUTH on.
    pub fn set_auth_policy(&self, policy: AuthPolicy) {
        lock(&self.shared.settings).auth = policy;
    }

    /// Shorthand for `set_auth_policy(AuthPolicy::Require { .. })`.
    pub fn require_auth(&self, user: &str, pass: &str) {
        self.set_auth_policy(AuthPolicy::Require {
            user: user.to_string(),
            pass: pass.to_string(),
        });
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // `accept` blocks and std has no way to interrupt it: connect once so it returns and the
        // loop sees the flag. If this fails the listener is already gone, which is fine too.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.listener_thread.take() {
            if thread.join().is_err() {
                eprintln!("SmtpSink: the listener thread panicked");
            }
        }
    }
}

/// The listener thread: accepts until the sink stops, then cuts the open connections and joins
/// their threads.
fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break; // This is Drop's wake-up connection (or one racing it): not a client.
        }
        let stream = match incoming {
            Ok(stream) => stream,
            Err(e) => {
                // E.g. out of file descriptors: say so, and don't spin while it lasts.
                eprintln!("SmtpSink: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        if lock(&shared.settings).down {
            // Down: close without a greeting. Dropping the stream closes it.
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        threads.retain(|thread| !thread.is_finished());
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        match stream.try_clone() {
            Ok(clone) => {
                lock(&shared.open).insert(id, clone);
            }
            Err(e) => {
                eprintln!("SmtpSink: could not register a connection, dropping it: {e}");
                continue;
            }
        }
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("smtp-sink-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, &thread_shared);
                lock(&thread_shared.open).remove(&id);
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                eprintln!("SmtpSink: could not spawn a connection thread: {e}");
                if let Some(stream) = lock(&shared.open).remove(&id) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        }
    }
    shared.close_open_connections();
    for thread in threads {
        if thread.join().is_err() {
            eprintln!("SmtpSink: a connection thread panicked");
        }
    }
}

/// Runs one connection to its end, logging an I/O failure rather than passing it on: a client
/// that misbehaves or vanishes must never take the server down.
fn serve_connection(stream: TcpStream, shared: &Shared) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown peer".to_string(), |addr| addr.to_string());
    let reader = match stream.try_clone() {
        Ok(read_half) => BufReader::new(read_half),
        Err(e) => {
            eprintln!("SmtpSink: connection from {peer}: could not clone the socket: {e}");
            return;
        }
    };
    let mut session = Session {
        shared,
        reader,
        writer: stream,
        greeted: false,
        auth: None,
        transaction: None,
    };
    if let Err(e) = session.run() {
        // A connection the sink cut on purpose (down, or stopping) fails in all sorts of ways;
        // only a failure on a connection that should have worked is worth a line.
        if !shared.should_hang_up() {
            eprintln!("SmtpSink: connection from {peer} dropped: {e}");
        }
    }
}

/// A mail transaction in progress: MAIL FROM seen, maybe some RCPT TO.
struct Transaction {
    from: String,
    to: Vec<String>,
}

/// Whether the conversation goes on after a command.
enum Flow {
    Continue,
    Quit,
}

/// One SMTP conversation.
struct Session<'a> {
    shared: &'a Shared,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// HELO or EHLO has been received.
    greeted: bool,
    /// Credentials accepted on this connection.
    auth: Option<(String, String)>,
    transaction: Option<Transaction>,
}

impl Session<'_> {
    fn run(&mut self) -> io::Result<()> {
        if self.shared.should_hang_up() {
            return Ok(());
        }
        self.reply(220, "127.0.0.1 ESMTP smtp-sink ready")?;
        while let Some(line) = self.read_line()? {
            if self.shared.should_hang_up() {
                return Ok(());
            }
            lock(&self.shared.commands).push(line.clone());
            if let Flow::Quit = self.command(&line)? {
                return Ok(());
            }
        }
        Ok(()) // The client closed the connection without QUIT: lettre may, and that is fine.
    }

    /// Answers one command line.
    fn command(&mut self, line: &str) -> io::Result<Flow> {
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb, argument.trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.greeted = true;
                self.transaction = None;
                let mut lines = vec![format!("127.0.0.1 greets {argument}")];
                lines.push("8BITMIME".to_string());
                lines.push("SMTPUTF8".to_string());
                if self.shared.settings().auth != AuthPolicy::Disabled {
                    lines.push("AUTH PLAIN LOGIN".to_string());
                }
                self.reply_lines(250, &lines)?;
            }
            "HELO" => {
                self.greeted = true;
                self.transaction = None;
                self.reply(250, &format!("127.0.0.1 greets {argument}"))?;
            }
            "AUTH" => self.auth(argument)?,
            "MAIL" => self.mail(argument)?,
            "RCPT" => self.rcpt(argument)?,
            "DATA" => self.data()?,
            "RSET" => {
                self.transaction = None;
                self.reply(250, "2.0.0 OK")?;
            }
            "NOOP" => self.reply(250, "2.0.0 OK")?,
            "QUIT" => {
                self.reply(221, "2.0.0 Bye")?;
                return Ok(Flow::Quit);
            }
            _ => self.reply(502, "5.5.2 Command not implemented")?,
        }
        Ok(Flow::Continue)
    }

    fn auth(&mut self, argument: &str) -> io::Result<()> {
        let policy = self.shared.settings().auth;
        if policy == AuthPolicy::Disabled {
            return self.reply(502, "5.5.1 AUTH not available");
        }
        if self.auth.is_some() {
            return self.reply(503, "5.5.1 Already authenticated");
        }
        if self.transaction.is_some() {
            return self.reply(503, "5.5.1 AUTH not allowed during a mail transaction");
        }
        let (mechanism, initial) = match argument.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim().to_string())),
            None => (argument, None),
        };
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                // Inline form: `AUTH PLAIN <base64>`. Continuation form: `AUTH PLAIN`, an empty
                // 334 challenge, then the base64 on a line of its own.
                let response = match initial {
                    Some(response) => response,
                    None => match self.challenge("")? {
                        Some(response) => response,
                        None => return Ok(()),
                    },
                };
                match decode_base64_text(&response).and_then(|text| parse_plain(&text)) {
                    Some(credentials) => credentials,
                    None => return self.reply(501, "5.5.2 Malformed AUTH PLAIN response"),
                }
            }
            "LOGIN" => {
                // `AUTH LOGIN`, 334 "Username:", user, 334 "Password:", password (all base64).
                // A client may give the user name at once: `AUTH LOGIN <base64 user>`.
                let user = match initial {
                    Some(user) => user,
                    None => match self.challenge("Username:")? {
                        Some(user) => user,
                        None => return Ok(()),
                    },
                };
                let Some(pass) = self.challenge("Password:")? else {
                    return Ok(());
                };
                match (decode_base64_text(&user), decode_base64_text(&pass)) {
                    (Some(user), Some(pass)) => (user, pass),
                    _ => return self.reply(501, "5.5.2 Malformed AUTH LOGIN response"),
                }
            }
            _ => return self.reply(504, "5.5.4 Unrecognized authentication type"),
        };
        if let AuthPolicy::Require { user, pass } = &policy {
            if (user, pass) != (&credentials.0, &credentials.1) {
                return self.reply(535, "5.7.8 Authentication credentials invalid");
            }
        }
        self.auth = Some(credentials);
        self.reply(235, "2.7.0 Authentication successful")
    }

    /// Sends a 334 challenge (`prompt` base64-encoded) and reads the client's answer. `None`
    /// when the client cancelled with `*` (answered 501 here) or closed the connection.
    fn challenge(&mut self, prompt: &str) -> io::Result<Option<String>> {
        self.reply(334, &encode_base64(prompt.as_bytes()))?;
        let Some(line) = self.read_line()? else {
            return Ok(None);
        };
        lock(&self.shared.commands).push(line.clone());
        if line.trim() == "*" {
            self.reply(501, "5.7.0 Authentication cancelled")?;
            return Ok(None);
        }
        Ok(Some(line.trim().to_string()))
    }

    fn mail(&mut self, argument: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply(503, "5.5.1 Send EHLO or HELO first");
        }
        if self.transaction.is_some() {
            return self.reply(503, "5.5.1 Nested MAIL command");
        }
        if matches!(self.shared.settings().auth, AuthPolicy::Require { .. }) && self.auth.is_none()
        {
            return self.reply(530, "5.7.0 Authentication required");
        }
        let Some(from) = path_argument(argument, "FROM:") else {
            return self.reply(501, "5.5.4 Syntax: MAIL FROM:<address>");
        };
        self.transaction = Some(Transaction {
            from,
            to: Vec::new(),
        });
        self.reply(250, "2.1.0 Sender OK")
    }

    fn rcpt(&mut self, argument: &str) -> io::Result<()> {
        if self.transaction.is_none() {
            return self.reply(503, "5.5.1 Need MAIL before RCPT");
        }
        let Some(recipient) = path_argument(argument, "TO:") else {
            return self.reply(501, "5.5.4 Syntax: RCPT TO:<address>");
        };
        if let Some((code, text)) = self.shared.settings().reject_rcpt {
            return self.reply(code, &text);
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.to.push(recipient);
        }
        self.reply(250, "2.1.5 Recipient OK")
    }

    fn data(&mut self) -> io::Result<()> {
        let recipients = self.transaction.as_ref().map_or(0, |t| t.to.len());
        if recipients == 0 {
            return self.reply(503, "5.5.1 Need RCPT before DATA");
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>")?;
        let data = self.read_data()?;
        // The transaction ends with DATA whatever the outcome: the client starts afresh.
        let Some(transaction) = self.transaction.take() else {
            return self.reply(503, "5.5.1 No transaction");
        };
        if let Some((code, text)) = self.shared.settings().reject_data {
            return self.reply(code, &text);
        }
        let mail = ReceivedMail {
            from: transaction.from,
            to: transaction.to,
            data: String::from_utf8_lossy(&data).into_owned(),
            auth: self.auth.clone(),
        };
        // SMTP_SINK_PRINT=1 shows each message as received: how docs/notifications.md got its
        // samples.
        if std::env::var_os("SMTP_SINK_PRINT").is_some() {
            eprintln!(
                "[smtp] ----- message -----\n{}\n[smtp] ----- end -----",
                mail.data
            );
        }
        // Recorded before the 250 goes out, so a test that saw lettre's send succeed is sure to
        // find the message here.
        lock(&self.shared.messages).push(mail);
        self.shared.message_added.notify_all();
        self.reply(250, "2.0.0 OK: queued")
    }

    /// Reads message content up to the line holding a lone `.`, undoing dot-stuffing. The CRLF
    /// before that line belongs to the terminator (RFC 5321 4.1.1.4), so it is not kept.
    fn read_data(&mut self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut line)?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of DATA",
                ));
            }
            if !line.ends_with(b"\n") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "DATA line too long or cut off",
                ));
            }
            if line == b".\r\n" || line == b".\n" {
                if data.ends_with(b"\r\n") {
                    data.truncate(data.len() - 2);
                } else if data.ends_with(b"\n") {
                    data.truncate(data.len() - 1);
                }
                return Ok(data);
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(unstuffed);
            if data.len() > MAX_MESSAGE_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "message larger than the sink accepts",
                ));
            }
        }
    }

    /// Reads one command line without its line end; `None` when the client has closed.
    fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "command line too long or cut off",
            ));
        }
        let text = String::from_utf8_lossy(&line);
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }

    fn reply(&mut self, code: u16, text: &str) -> io::Result<()> {
        self.reply_lines(code, &[text.to_string()])
    }

    /// Sends a reply, several lines as `250-first`, ..., `250 last`, after the configured delay.
    fn reply_lines(&mut self, code: u16, lines: &[String]) -> io::Result<()> {
        self.delay()?;
        let mut reply = String::new();
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            reply.push_str(&format!("{code}{separator}{line}\r\n"));
        }
        self.writer.write_all(reply.as_bytes())?;
        self.writer.flush()
    }

    /// Sleeps for the reply delay in short slices, so that a long delay never holds up `Drop`
    /// or `set_down`; a delay changed meanwhile counts from the start of this one.
    fn delay(&self) -> io::Result<()> {
        let started = Instant::now();
        loop {
            if self.shared.should_hang_up() {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "sink stopping or down",
                ));
            }
            let delay = self.shared.settings().reply_delay;
            let elapsed = started.elapsed();
            if elapsed >= delay {
                return Ok(());
            }
            std::thread::sleep((delay - elapsed).min(DELAY_SLICE));
        }
    }
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`: `keyword` matched in any case, blanks
/// tolerated after it, the angle brackets optional (some clients omit them), and ESMTP
/// parameters such as lettre's `BODY=8BITMIME` ignored.
fn path_argument(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    if let Some(bracketed) = rest.strip_prefix('<') {
        let end = bracketed.find('>')?;
        return Some(bracketed[..end].to_string());
    }
    let address = rest.split_whitespace().next()?;
    Some(address.to_string())
}

/// AUTH PLAIN's decoded response is `authzid NUL authcid NUL password`; the identity that counts
/// is authcid.
fn parse_plain(text: &str) -> Option<(String, String)> {
    let mut fields = text.split('\0');
    let _authorization_identity = fields.next()?;
    let user = fields.next()?;
    let pass = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

/// Everything but RFC 3986's unreserved characters is percent-encoded: always safe in the
/// userinfo part of a URL.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, USERINFO).to_string()
}

/// Decodes the RFC 2047 encoded-words in an unfolded header value, each by mail-parser. Blanks
/// between two adjacent encoded-words are dropped (RFC 2047 6.2); all other text is kept as it
/// is, blanks included (mail-parser's own header reading would squeeze a run of blanks at a
/// fold or beside an encoded-word into one space).
fn decode_encoded_words(value: &str) -> String {
    let mut decoded = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        // mail-parser reads a word from just past its `=`.
        let mut stream = MessageStream::new(&rest.as_bytes()[start + 1..]);
        let word = stream.decode_rfc2047();
        let end = start + 1 + stream.offset();
        // An encoded-word never contains blanks: this is not one.
        match word.filter(|_| !rest[start..end].contains([' ', '\t'])) {
            Some(text) => {
                let between = &rest[..start];
                if !(after_word && between.trim().is_empty()) {
                    decoded.push_str(between);
                }
                decoded.push_str(&text);
                after_word = true;
                rest = &rest[end..];
            }
            None => {
                decoded.push_str(&rest[..start + 2]);
                after_word = false;
                rest = &rest[start + 2..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// Standard base64 with padding, for SMTP AUTH challenges.
fn encode_base64(input: &[u8]) -> String {
    general_purpose::STANDARD.encode(input)
}

/// Base64 that must decode to UTF-8 text (SMTP AUTH responses); blanks are skipped, padding is
/// optional.
fn decode_base64_text(input: &str) -> Option<String> {
    let compact: String = input.split_ascii_whitespace().collect();
    let bytes = general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(compact)
        .ok()?;
    String::from_utf8(bytes).ok()
}

impl fmt::Display for ReceivedMail {
    /// A short one-line summary for assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mail from <{}> to {:?}, subject {:?}",
            self.from,
            self.to,
            self.subject().unwrap_or_default()
        )
    }
}
