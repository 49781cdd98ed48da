//! HAProxy in front of the enterprise topology: a TCP proxy whose health check routes to the node that says
//! `role:master`, like the Azure Enterprise policy proxy, and its admin socket, through which node replacement
//! points a spare server slot at a new node at run time.

use super::admin::NodeError;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The HAProxy configuration: frontend on `port`, backend `be` with one slot per entry of `slots` (`s1` is id
/// 101); `None` slots are disabled spares pointing at port 1.
///
/// With `tls` the nodes speak TLS only: HAProxy still forwards TCP untouched (clients see the nodes' certificates
/// and verify them end to end), but its health checks open their own TLS session (`check-ssl`) and the
/// `tcp-check` send/expect steps run inside it, so the role is still checked. `verify none` because a health check
/// only asks who is primary; the clients do the verifying.
pub(crate) fn config(dir: &Path, port: u16, slots: &[Option<u16>], role_check: bool, tls: bool) -> String {
    let mut out = format!(
        "global\n\
         \x20   stats socket {sock} level admin\n\
         \x20   maxconn 512\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   timeout connect 500ms\n\
         \x20   timeout client 1h\n\
         \x20   timeout server 1h\n\
         \x20   timeout check 500ms\n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend be\n\
         backend be\n\
         \x20   option tcp-check\n\
         \x20   tcp-check send PING\\r\\n\n\
         \x20   tcp-check expect string +PONG\n\
         {role}\
         \x20   default-server check inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions{ssl}\n",
        sock = dir.join("haproxy.sock").display(),
        ssl = if tls { " check-ssl verify none" } else { "" },
        // An enterprise endpoint forwards only to the primary; a cluster's discovery endpoint to any live node.
        role = if role_check {
            "    tcp-check send info\\ replication\\r\\nQUIT\\r\\n\n    tcp-check expect string role:master\n"
        } else {
            ""
        },
    );
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Some(p) => out.push_str(&format!("    server s{} 127.0.0.1:{p} id {}\n", i + 1, 101 + i)),
            None => out.push_str(&format!("    server s{} 127.0.0.1:1 id {} disabled\n", i + 1, 101 + i)),
        }
    }
    out
}

/// Sends one command to the admin socket and returns the answer.
pub(crate) async fn admin(socket: &Path, command: &str) -> Result<String, NodeError> {
    let talk = async {
        let mut s = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| NodeError(format!("HAProxy admin socket {}: {e}", socket.display())))?;
        let io = |e: std::io::Error| NodeError(format!("HAProxy admin socket {}: {e}", socket.display()));
        s.write_all(format!("{command}\n").as_bytes()).await.map_err(io)?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.map_err(io)?;
        Ok::<String, NodeError>(out)
    };
    tokio::time::timeout(Duration::from_secs(2), talk)
        .await
        .map_err(|_| NodeError("HAProxy admin socket did not answer".to_string()))?
}

/// The status (`UP`, `DOWN`, `MAINT`, ...) of every server of backend `be`, by slot name, from `show stat`.
pub(crate) async fn server_status(socket: &Path) -> Result<HashMap<String, String>, NodeError> {
    let csv = admin(socket, "show stat").await?;
    let mut lines = csv.lines();
    let header = lines.next().ok_or_else(|| NodeError("empty show stat".to_string()))?.trim_start_matches("# ");
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (px, sv, st) = match (col("pxname"), col("svname"), col("status")) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => return Err(NodeError(format!("unexpected show stat header: {header}"))),
    };
    let mut out = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(px) == Some(&"be") {
            if let (Some(name), Some(status)) = (f.get(sv), f.get(st)) {
                if name.starts_with('s') {
                    out.insert(name.to_string(), status.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// Points slot `index` (0 = `s1`) at `port` and enables it.
pub(crate) async fn enable_slot(socket: &Path, index: usize, port: u16) -> Result<(), NodeError> {
    let name = format!("be/s{}", index + 1);
    let r = admin(socket, &format!("set server {name} addr 127.0.0.1 port {port}")).await?;
    if !(r.contains("changed") || r.trim().is_empty()) {
        return Err(NodeError(format!("set server {name} addr: {}", r.trim())));
    }
    let r = admin(socket, &format!("set server {name} state ready")).await?;
    if !r.trim().is_empty() {
        return Err(NodeError(format!("set server {name} state ready: {}", r.trim())));
    }
    Ok(())
}

/// Puts slot `index` in maintenance: no new session goes there, existing ones are cut.
pub(crate) async fn retire_slot(socket: &Path, index: usize) -> Result<(), NodeError> {
    let name = format!("be/s{}", index + 1);
    let r = admin(socket, &format!("set server {name} state maint")).await?;
    if !r.trim().is_empty() {
        return Err(NodeError(format!("set server {name} state maint: {}", r.trim())));
    }
    let _ = admin(socket, &format!("shutdown sessions server {name}")).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_health_check_and_spare_slots() {
        let c = config(Path::new("/tmp/x"), 7000, &[Some(7001), Some(7002), None], true, false);
        assert!(c.contains("bind 127.0.0.1:7000"));
        assert!(c.contains("tcp-check send info\\ replication\\r\\nQUIT\\r\\n\n"));
        assert!(c.contains("tcp-check expect string role:master"));
        assert!(c.contains("server s1 127.0.0.1:7001 id 101\n"));
        assert!(c.contains("server s3 127.0.0.1:1 id 103 disabled\n"));
        assert!(c.contains("stats socket /tmp/x/haproxy.sock level admin"));
        assert!(!c.contains("check-ssl"), "{c}");
        let d = config(Path::new("/tmp/x"), 7000, &[Some(7001)], false, false);
        assert!(d.contains("tcp-check expect string +PONG") && !d.contains("role:master"), "{d}");
    }

    #[test]
    fn tls_health_checks_speak_tls_and_still_check_the_role() {
        let c = config(Path::new("/tmp/x"), 7000, &[Some(7001), None], true, true);
        assert!(
            c.contains("default-server check inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions check-ssl verify none\n"),
            "{c}"
        );
        assert!(c.contains("tcp-check expect string role:master"), "{c}");
        // The frontend stays a TCP passthrough: no certificate on the bind line.
        assert!(c.contains("bind 127.0.0.1:7000\n") && c.contains("mode tcp"), "{c}");
    }
}
