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
//! belong to the socket, not to the descriptor). Through a proxy the ports do not match,
//! and over a Unix socket there is no Nagle: the connection is then left as sqlx made it.

use sea_orm::sqlx::{self, PgConnection};

/// Turns Nagle's algorithm off on `conn`'s socket, when it can be found. Never fails the
/// connection over it (a request waiting for it would fail): without the option it works
/// as before, only slower, and a connection that cannot answer fails at its first use.
pub(super) async fn set_nodelay(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    match find_and_set(conn).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!("no socket of ours with this connection's ports"),
        Err(error) => tracing::debug!(%error, "could not turn Nagle's algorithm off"),
    }
    Ok(())
}

/// Answers whether the socket was found (and set).
async fn find_and_set(conn: &mut PgConnection) -> Result<bool, String> {
    let (local, server): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(conn)
            .await
            .map_err(|e| e.to_string())?;
    // None over a Unix socket.
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let (Some(local), Some(server)) = (port(local), port(server)) else {
        return Ok(false);
    };
    // A pass over every descriptor (thousands with many subscribers): off the workers.
    tokio::task::spawn_blocking(move || on_socket(local, server))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Sets `TCP_NODELAY` on this process's TCP socket from local port `local` to remote port
/// `server`. Answers whether it found one.
#[cfg(target_os = "linux")]
fn on_socket(local: u16, server: u16) -> std::io::Result<bool> {
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    let this_process = pidfd_open(getpid(), PidfdFlags::empty())?;
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
        let Ok(copy) = pidfd_getfd(&this_process, number, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let stream = std::net::TcpStream::from(copy);
        let port = |address: std::io::Result<std::net::SocketAddr>| address.map(|a| a.port()).ok();
        if port(stream.local_addr()) == Some(local) && port(stream.peer_addr()) == Some(server) {
            stream.set_nodelay(true)?;
            return Ok(true);
        }
    }
    Ok(false)
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
