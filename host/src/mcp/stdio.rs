//! The stdio transport's two ends. When stdin and stdout are pipes (how MCP clients start a
//! server), they are driven by the I/O reactor like sockets; otherwise (a terminal, a file)
//! through tokio's `stdin`/`stdout`, which hand every read and every write to a blocking
//! thread: two thread hand-offs per message that a pipe does not need.

use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

/// The reading end.
pub type Input = Box<dyn AsyncRead + Send + Unpin>;
/// The writing end.
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// stdin and stdout for rmcp. Must run inside the tokio runtime.
pub fn transport() -> (Input, Output) {
    let input: Input = match reactor_pipe(std::io::stdin().as_fd(), pipe::Receiver::from_file) {
        Some(r) => Box::new(r),
        None => Box::new(tokio::io::stdin()),
    };
    let output: Output = match reactor_pipe(std::io::stdout().as_fd(), pipe::Sender::from_file) {
        Some(w) => Box::new(w),
        None => Box::new(tokio::io::stdout()),
    };
    (input, output)
}

/// `fd` as a reactor-driven pipe end (`open` sets it non-blocking), or `None` when it is not
/// a pipe. The descriptor is duplicated: fds 0 and 1 stay open for the process's life.
fn reactor_pipe<T>(
    fd: std::os::fd::BorrowedFd<'_>,
    open: fn(std::fs::File) -> std::io::Result<T>,
) -> Option<T> {
    let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    open(file).ok()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_pipe_end_is_driven_by_the_reactor_and_anything_else_is_refused() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut r = reactor_pipe(r.as_fd(), pipe::Receiver::from_file).unwrap();
        w.write_all(b"{}\n").unwrap();
        let mut buf = [0u8; 3];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"{}\n");

        let (mut r, w) = std::io::pipe().unwrap();
        let mut w = reactor_pipe(w.as_fd(), pipe::Sender::from_file).unwrap();
        w.write_all(b"ok").await.unwrap();
        let mut buf = [0u8; 2];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok");

        let file = tempfile::tempfile().unwrap();
        assert!(reactor_pipe(file.as_fd(), pipe::Receiver::from_file).is_none());
    }
}
