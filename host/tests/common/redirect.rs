//! A loopback proxy in front of a registry that answers every blob `GET` with a 307 to the
//! registry itself, as registries backed by object storage (S3, GCS, Azure) redirect blob
//! downloads; everything else it forwards. Each connection carries one exchange.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The proxy, stopped when dropped.
pub struct RedirectingProxy {
    pub addr: SocketAddr,
    redirects: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RedirectingProxy {
    /// Listens on an ephemeral port of 127.0.0.1 in front of the registry at `upstream`.
    pub fn start(upstream: SocketAddr) -> RedirectingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let redirects = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, stopped) = (redirects.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = exchange(stream, upstream, &counter);
                });
            }
        });
        RedirectingProxy {
            addr,
            redirects,
            stop,
        }
    }

    /// Blob downloads redirected so far.
    pub fn redirects(&self) -> usize {
        self.redirects.load(Ordering::SeqCst)
    }
}

impl Drop for RedirectingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn exchange(
    client: TcpStream,
    upstream: SocketAddr,
    redirects: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "GET" && path.contains("/blobs/sha256:") {
        redirects.fetch_add(1, Ordering::SeqCst);
        return write!(
            client,
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{upstream}{path}\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        );
    }
    let mut registry = TcpStream::connect(upstream)?;
    for line in &head {
        registry.write_all(line.as_bytes())?;
    }
    registry.write_all(b"connection: close\r\n\r\n")?;
    registry.write_all(&body)?;
    let mut response = Vec::new();
    registry.read_to_end(&mut response)?;
    // The registry closes after this exchange; so does the proxy, and says so.
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let (response_head, rest) = response.split_at(split);
    let response_head = String::from_utf8_lossy(response_head);
    for line in response_head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            write!(client, "{line}\r\n")?;
        }
    }
    client.write_all(b"connection: close\r\n")?;
    client.write_all(rest.get(2..).unwrap_or_default())?;
    client.flush()
}
