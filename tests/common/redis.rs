//! A real `redis-server` for a test: on a free loopback port, no persistence, killed when
//! dropped. Stopped and started again on the same port to play an outage.
//!
//! Without the binary (Debian package `redis-server`), [`RedisServer::start`] says so loudly on
//! stderr and the test skips itself, unless `CI` is set: then the test fails, so that CI never
//! passes by skipping.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, found on `PATH`.
const BINARY: &str = "redis-server";

/// How long a starting server may take to answer `PING`.
const STARTUP: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A running server on a free port, or `None` (after a loud message) when the binary is
    /// absent outside CI.
    ///
    /// # Panics
    /// When the binary is absent and `CI` is set, or the server does not answer in time.
    pub fn start() -> Option<Self> {
        let port = free_port();
        match spawn(port) {
            Ok(child) => {
                let mut server = Self {
                    port,
                    child: Some(child),
                };
                server.wait_until_ready();
                Some(server)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let message = format!(
                    "`{BINARY}` is not installed (apt-get install -y redis-server): the tests \
                     against a real Redis cannot run"
                );
                if std::env::var_os("CI").is_some() {
                    panic!("{message}; CI is set, so this is a failure, not a skip");
                }
                // Straight to stderr: the test harness captures `eprintln!` of passing tests.
                let banner = "!".repeat(40);
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{banner}\n!!! SKIPPED: {message}.\n{banner}"
                );
                None
            }
            Err(e) => panic!("starting {BINARY}: {e}"),
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing was persisted) and waits
    /// until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.port).unwrap_or_else(|e| panic!("restarting {BINARY}: {e}")));
        self.wait_until_ready();
    }

    /// Runs one command with redis-cli's plain protocol and returns the raw reply, for tests
    /// that look at what the store wrote (`PTTL`, `KEYS`).
    pub fn command(&self, args: &[&str]) -> String {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut reply = vec![0; 64 * 1024];
        let n = stream.read(&mut reply).expect("read");
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{BINARY} on port {} exited at start: {status}", self.port);
            }
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{BINARY} on port {} did not answer PING within {STARTUP:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> std::io::Result<Child> {
    Command::new(BINARY)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        // Its working directory is where it would write; nothing is written, but not here.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A port nothing listens on now (the kernel's pick, released at once).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
