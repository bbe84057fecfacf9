//! A real, deliberately slow TCP server on `127.0.0.1`, for the lessons that
//! need something to wait on (cancellation, syscalls).
//!
//! It runs on plain std threads, outside the runtime under study: it is the
//! far side of the network, not part of the experiment. Each connection gets a
//! thread that reads one request line, waits `delay`, then writes one reply
//! line and closes. A client that gives up early simply finds the socket gone;
//! the server does not care.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::time::Duration;
//!
//! let server = lessons::slow_server::SlowServer::start(Duration::from_millis(5)).unwrap();
//! let mut conn = std::net::TcpStream::connect(server.addr()).unwrap();
//! conn.write_all(b"GET /\n").unwrap();
//! let mut reply = String::new();
//! BufReader::new(conn).read_line(&mut reply).unwrap();
//! assert_eq!(reply, "200 OK slow reply to GET /\n");
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A listening server that answers every request after a fixed delay.
#[derive(Debug)]
pub struct SlowServer {
    addr: SocketAddr,
}

impl SlowServer {
    /// Binds `127.0.0.1:0` (a free port) and starts accepting on a background
    /// thread that lives as long as the process.
    pub fn start(delay: Duration) -> io::Result<SlowServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("slow-server".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = std::thread::Builder::new()
                        .name("slow-server-conn".into())
                        .spawn(move || serve(conn, delay));
                }
            })?;
        Ok(SlowServer { addr })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn serve(conn: TcpStream, delay: Duration) {
    let mut reader = BufReader::new(&conn);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    std::thread::sleep(delay);
    let reply = format!("200 OK slow reply to {}\n", request.trim_end());
    // The client may have hung up; that is its right.
    let _ = (&conn).write_all(reply.as_bytes());
}

/// Sends one request line on `conn` and reads the reply line: two real
/// syscalls, the second of which blocks until the server answers.
pub fn request(conn: &TcpStream, line: &str) -> io::Result<String> {
    (&*conn).write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    let n = BufReader::new(conn).read_line(&mut reply)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the reply",
        ));
    }
    Ok(reply.trim_end().to_string())
}
