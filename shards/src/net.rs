//! Shard-local networking.
//!
//! Every shard accepts its own connections from its own `SO_REUSEPORT` listener on the same
//! address, so an accepted connection lives its whole life on the core that accepted it and
//! no cross-core hand-off is needed. The listeners are bound on the main thread before the
//! shards start, so a bad address or a port in use is an error at startup rather than a
//! panic inside an executor (glommio's own `bind` unwraps a failed resolve).
//!
//! Because `SO_REUSEPORT` lets a second process bind the same port silently and steal half
//! of the connections, a fixed port is guarded by an exclusive `flock` on a lock file.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use socket2::{Domain, Protocol, Socket, Type};

/// Pending-connection queue length per listener (the kernel caps it at somaxconn).
pub const LISTEN_BACKLOG: i32 = 1024;

/// One bound, listening socket per shard, all on the same address.
pub struct ListenerSet {
    sockets: Vec<Socket>,
    local_addr: SocketAddr,
    _lock: Option<PortLock>,
}

impl ListenerSet {
    /// Binds `count` listeners on `addr` (port 0 picks a free port, shared by all).
    pub fn bind(addr: SocketAddr, count: usize) -> io::Result<ListenerSet> {
        assert!(count > 0, "at least one listener");
        let lock = if addr.port() != 0 {
            Some(PortLock::acquire(addr.port())?)
        } else {
            None
        };
        let mut sockets = Vec::with_capacity(count);
        let first = bind_one(addr)?;
        let local_addr = first.local_addr()?.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "listener has no IP address")
        })?;
        sockets.push(first);
        for _ in 1..count {
            sockets.push(bind_one(local_addr)?);
        }
        let lock = match lock {
            Some(lock) => lock,
            None => PortLock::acquire(local_addr.port())?,
        };
        Ok(ListenerSet {
            sockets,
            local_addr,
            _lock: Some(lock),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Hands out the sockets, one per shard; the port lock stays with the returned guard.
    pub fn into_parts(self) -> (Vec<ListenerSocket>, PortGuard) {
        let sockets = self.sockets.into_iter().map(ListenerSocket).collect();
        (sockets, PortGuard { _lock: self._lock })
    }
}

/// Keeps the port's lock file locked for as long as it lives.
pub struct PortGuard {
    _lock: Option<PortLock>,
}

/// A bound listening socket not yet attached to an executor (it is `Send`).
pub struct ListenerSocket(Socket);

fn bind_one(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

struct PortLock {
    _file: File,
}

impl PortLock {
    fn acquire(port: u16) -> io::Result<PortLock> {
        let path = lock_path(port);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a file descriptor we own; non-blocking so a held lock errors.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "port {port} is already in use by another tern process (lock file {} is held)",
                        path.display()
                    ),
                ));
            }
            return Err(err);
        }
        Ok(PortLock { _file: file })
    }
}

fn lock_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("tern-port-{port}.lock"))
}

/// A listener attached to the current shard's executor.
pub struct Listener {
    inner: glommio::net::TcpListener,
}

impl Listener {
    /// Attaches a socket bound by [`ListenerSet`] to the current shard.
    pub fn attach(socket: ListenerSocket) -> Listener {
        let fd = socket.0.into_raw_fd();
        // SAFETY: `fd` is a listening TCP socket whose ownership we just released.
        let inner = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
        Listener { inner }
    }

    pub async fn accept(&self) -> io::Result<Connection> {
        let stream = self.inner.accept().await.map_err(io::Error::from)?;
        Ok(Connection {
            stream: Rc::new(RefCell::new(stream)),
        })
    }
}

/// An accepted (or connected) TCP connection owned by one shard.
pub struct Connection {
    stream: Rc<RefCell<glommio::net::TcpStream>>,
}

impl Connection {
    /// Connects from the current shard (used by tests and the bench tool).
    pub async fn connect(addr: SocketAddr) -> io::Result<Connection> {
        let stream = glommio::net::TcpStream::connect(addr)
            .await
            .map_err(io::Error::from)?;
        Ok(Connection {
            stream: Rc::new(RefCell::new(stream)),
        })
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.borrow().peer_addr().map_err(io::Error::from)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.borrow().local_addr().map_err(io::Error::from)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.stream
            .borrow()
            .set_nodelay(on)
            .map_err(io::Error::from)
    }

    /// Splits into halves that two tasks on this shard may drive at the same time: glommio
    /// tracks read and write readiness separately, and each poll borrows the stream only
    /// for its own duration.
    pub fn split(self) -> (ReadHalf, WriteHalf) {
        (
            ReadHalf {
                stream: self.stream.clone(),
            },
            WriteHalf {
                stream: self.stream,
            },
        )
    }
}

pub struct ReadHalf {
    stream: Rc<RefCell<glommio::net::TcpStream>>,
}

impl ReadHalf {
    /// Reads what is available into `buf`; Ok(0) at end of stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        AsyncReadExt::read(self, buf).await
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut stream = self.stream.borrow_mut();
        Pin::new(&mut *stream).poll_read(cx, buf)
    }
}

pub struct WriteHalf {
    stream: Rc<RefCell<glommio::net::TcpStream>>,
}

impl WriteHalf {
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        AsyncWriteExt::write_all(self, buf).await
    }

    /// Shuts down both directions, so the peer and our own reader see the end.
    pub fn shutdown(&self) {
        let fd = self.stream.borrow().as_raw_fd();
        // SAFETY: `fd` is our open socket; shutdown does not close it.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut stream = self.stream.borrow_mut();
        Pin::new(&mut *stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut stream = self.stream.borrow_mut();
        Pin::new(&mut *stream).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut stream = self.stream.borrow_mut();
        Pin::new(&mut *stream).poll_close(cx)
    }
}

impl ListenerSocket {
    /// For tests that need the raw socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }
}
