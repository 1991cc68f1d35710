//! The worker's TCP listener: a cap on open connections and a deadline for request headers.
//!
//! hyper (as `axum::serve` runs it) has no timer, so a client that sends its headers one byte a
//! minute would hold a connection forever. Each connection here must deliver the head of every
//! request within `header_timeout` of the connection opening or of the previous answer; the body
//! has its own deadline in the Inngest endpoint.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A `TcpListener` that caps open connections and drops a connection whose request headers do
/// not arrive in time (see the module docs).
pub struct GuardedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    header_timeout: Duration,
}

impl GuardedListener {
    /// At most `max_connections` (at least 1) open at once; further ones wait in the backlog.
    /// Each must deliver request headers within `header_timeout`.
    pub fn new(inner: TcpListener, max_connections: usize, header_timeout: Duration) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            header_timeout,
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // At the cap, new connections wait in the kernel's backlog instead of being served.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        GuardedStream::new(stream, permit, self.header_timeout),
                        addr,
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that holds one permit of the cap and enforces the header deadline.
pub struct GuardedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    timeout: Duration,
    /// Armed while a request head is awaited.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Trailing bytes of the head seen so far, to find `\r\n\r\n` across reads.
    tail: [u8; 3],
}

impl GuardedStream {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, timeout: Duration) -> Self {
        Self {
            inner,
            _permit: permit,
            timeout,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            tail: [0; 3],
        }
    }

    /// True once `data` (following the bytes in `tail`) completes a request head.
    fn head_ends(&mut self, data: &[u8]) -> bool {
        let mut window: Vec<u8> = self.tail.to_vec();
        window.extend_from_slice(data);
        let found = window.windows(4).any(|w| w == b"\r\n\r\n");
        let n = window.len();
        self.tail.copy_from_slice(&window[n - 3..]);
        found
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            tracing::debug!("request headers too slow; connection closed");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request headers not received in time",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result
            && self.deadline.is_some()
        {
            let fresh = buf.filled()[before..].to_vec();
            if self.head_ends(&fresh) {
                self.deadline = None;
            }
        }
        result
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        // An answer is going out: the next request on this connection gets a fresh deadline.
        if self.deadline.is_none() {
            let timeout = self.timeout;
            self.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
            self.tail = [0; 3];
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
