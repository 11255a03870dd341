//! The HTTP listener with a deadline on request headers: a connection whose first
//! request's headers have not all arrived within the read timeout is closed, so slow
//! senders cannot hold connections open (bodies have their own deadline, in the
//! webhook's reader). After the first headers the connection is left alone: a live
//! event stream may stay silent from the client's side for as long as it is open.

use axum::serve::Listener;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A TCP listener whose connections must send their headers in time.
pub struct GuardedListener {
    inner: TcpListener,
    header_timeout: Duration,
}

impl GuardedListener {
    /// Guard `inner`'s connections: headers within `header_timeout`.
    pub fn new(inner: TcpListener, header_timeout: Duration) -> GuardedListener {
        GuardedListener {
            inner,
            header_timeout,
        }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = Listener::accept(&mut self.inner).await;
        (GuardedStream::new(stream, self.header_timeout), address)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its reads once the header deadline passes, until the end
/// of its first header block (`\r\n\r\n`) has been read.
pub struct GuardedStream {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
    headers_done: bool,
    /// The last bytes read, to find a `\r\n\r\n` split across reads.
    tail: [u8; 3],
}

impl GuardedStream {
    fn new(inner: TcpStream, header_timeout: Duration) -> GuardedStream {
        GuardedStream {
            inner,
            deadline: Box::pin(tokio::time::sleep(header_timeout)),
            headers_done: false,
            tail: [0; 3],
        }
    }

    /// Note `bytes` just read: has the first header block ended?
    fn saw(&mut self, bytes: &[u8]) {
        if !self.headers_done {
            let mut window = self.tail.to_vec();
            window.extend_from_slice(bytes);
            if window.windows(4).any(|w| w == b"\r\n\r\n") {
                self.headers_done = true;
            }
            let keep = window.len().saturating_sub(3);
            if let Some(last) = window.get(keep..) {
                self.tail.copy_from_slice(last);
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().get(before..).unwrap_or_default().to_vec();
                self.saw(&read);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if self.headers_done => Poll::Pending,
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request did not arrive in time",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
