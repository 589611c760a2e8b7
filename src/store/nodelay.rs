//! `TCP_NODELAY` for the pool's PostgreSQL connections, which sqlx 0.9 opens without it.
//!
//! With Nagle's algorithm on, a small write that follows another not yet acknowledged
//! waits for that acknowledgement, and the server delays it up to 40 ms: a `COPY` waited
//! once at its end (its `CopyDone` behind its last chunk), and so did a statement too
//! large for one socket write (`store::WIRE_BUDGET`). libpq, `psql` and the PostgreSQL
//! server all turn the algorithm off.
//!
//! sqlx keeps its socket to itself, so once a connection is open we ask the server which
//! port it comes from (`inet_client_port()`), find the process's socket with that local
//! port and the server's port, and set the option on a copy of its descriptor (options
//! belong to the socket, not to the descriptor). Where it cannot (a proxy between us and
//! the server; a sandbox that refuses `pidfd_getfd`, as Docker's default seccomp profile
//! does without `CAP_SYS_PTRACE`; a kernel before 5.6) the connection is left as sqlx
//! made it and a warning says so once. Over a Unix socket there is no Nagle to turn off.

use sea_orm::sqlx::{self, PgConnection};

/// Turns Nagle's algorithm off on `conn`'s socket, when it can be found. A failed question
/// to the server is returned (sqlx then drops this connection and opens another); not
/// finding or not setting the socket is not: the connection works as before, only slower,
/// and the first time that happens it is logged as a warning with its reason.
pub(super) async fn set_nodelay(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let (local, server): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(conn)
            .await?;
    // None over a Unix socket, which has no Nagle to turn off.
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let (Some(local), Some(server)) = (port(local), port(server)) else {
        return Ok(());
    };
    // A pass over every descriptor (thousands with many subscribers): off the workers.
    let outcome = tokio::task::spawn_blocking(move || on_socket(local, server)).await;
    let problem = match outcome {
        Ok(Ok(true)) => return Ok(()),
        Ok(Ok(false)) => "no socket of this process has the ports the server reports \
                          (a proxy between them?)"
            .to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            %problem,
            "PostgreSQL connections keep Nagle's algorithm: bulk writes (imports) wait out \
             delayed acknowledgements"
        );
    });
    tracing::debug!(%problem, "TCP_NODELAY not set on a new connection");
    Ok(())
}

/// Sets `TCP_NODELAY` on this process's TCP socket from local port `local` to remote port
/// `server`. Answers whether it found one.
#[cfg(target_os = "linux")]
fn on_socket(local: u16, server: u16) -> std::io::Result<bool> {
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    let this_process = pidfd_open(getpid(), PidfdFlags::empty())?;
    // Why a descriptor could not be copied: a sandbox refuses every copy (EPERM), and
    // that, not "no socket", is then the reason to give.
    let mut refused = None;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let socket = std::fs::read_link(entry.path()).is_ok_and(|target| {
            target
                .as_os_str()
                .as_encoded_bytes()
                .starts_with(b"socket:")
        });
        if !socket {
            continue;
        }
        // A copy of the descriptor, closed when dropped. If another thread closed the
        // number since it was listed, this fails; if the number was reused at once, the
        // ports below do not match.
        let copy = match pidfd_getfd(&this_process, number, PidfdGetfdFlags::empty()) {
            Ok(copy) => copy,
            // Closed since it was listed: nothing to say.
            Err(rustix::io::Errno::BADF) => continue,
            Err(e) => {
                refused = Some(e);
                continue;
            }
        };
        let stream = std::net::TcpStream::from(copy);
        let port = |address: std::io::Result<std::net::SocketAddr>| address.map(|a| a.port()).ok();
        if port(stream.local_addr()) == Some(local) && port(stream.peer_addr()) == Some(server) {
            stream.set_nodelay(true)?;
            return Ok(true);
        }
    }
    match refused {
        Some(e) => Err(std::io::Error::other(format!("pidfd_getfd: {e}"))),
        None => Ok(false),
    }
}

#[cfg(not(target_os = "linux"))]
fn on_socket(_local: u16, _server: u16) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::on_socket;

    #[test]
    fn finds_the_socket_by_its_ports_and_turns_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap(), "off by default");
        let (local, server) = (
            client.local_addr().unwrap().port(),
            client.peer_addr().unwrap().port(),
        );
        assert!(on_socket(local, server).unwrap());
        assert!(client.nodelay().unwrap(), "set on the socket itself");
    }

    #[test]
    fn leaves_everything_alone_when_no_socket_has_the_ports() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let server = client.peer_addr().unwrap().port();
        // The server side's local port is the listener's: no socket of ours goes from the
        // listener's port to the listener's port.
        assert!(!on_socket(server, server).unwrap());
        assert!(!client.nodelay().unwrap());
        assert!(!server_side.nodelay().unwrap());
    }
}
