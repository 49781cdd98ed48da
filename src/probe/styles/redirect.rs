//! `MOVED` and `ASK` replies: which slot, and which node the server sends the client to.

use crate::topology::Endpoint;

/// A cluster redirection a node answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `MOVED <slot> <host:port>`: the slot now belongs to another primary for good.
    Moved {
        /// The slot.
        slot: u16,
        /// Its owner, as the answering node knows it.
        to: Endpoint,
    },
    /// `ASK <slot> <host:port>`: the slot is being migrated; this one key is (also) there.
    Ask {
        /// The slot.
        slot: u16,
        /// The node to ask, once, after `ASKING`.
        to: Endpoint,
    },
}

/// Parses a redirection from error text (`MOVED 3999 127.0.0.1:6381`, also after a `Kind Error: ` prefix
/// as fred prints it). A node that does not know its own address answers `:port`; the host of the node
/// that answered (`answered_by`) fills that gap, as cluster clients do.
pub fn parse_redirect(text: &str, answered_by: &Endpoint) -> Option<Redirect> {
    let text = text.trim();
    let start = ["MOVED ", "ASK "].iter().filter_map(|w| text.find(w)).min()?;
    // Only a leading word or one right after "...: " is a reply; "MOVED" inside other text is not.
    if start != 0 && !text[..start].ends_with(": ") {
        return None;
    }
    let mut words = text[start..].split_whitespace();
    let kind = words.next()?;
    let slot = words.next()?.parse::<u16>().ok()?;
    let target = words.next()?;
    let mut to: Endpoint = target.parse().ok()?;
    if to.host.is_empty() {
        to.host = answered_by.host.clone();
    }
    match kind {
        "MOVED" => Some(Redirect::Moved { slot, to }),
        "ASK" => Some(Redirect::Ask { slot, to }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Endpoint {
        Endpoint::new("127.0.0.1", 7000)
    }

    #[test]
    fn parses_moved_and_ask() {
        assert_eq!(
            parse_redirect("MOVED 3999 127.0.0.1:7002", &node()),
            Some(Redirect::Moved { slot: 3999, to: Endpoint::new("127.0.0.1", 7002) })
        );
        assert_eq!(
            parse_redirect("Cluster Error: ASK 12 10.0.0.3:6379", &node()),
            Some(Redirect::Ask { slot: 12, to: Endpoint::new("10.0.0.3", 6379) })
        );
    }

    #[test]
    fn fills_an_unknown_host_from_the_answering_node() {
        assert_eq!(
            parse_redirect("MOVED 1 :7005", &node()),
            Some(Redirect::Moved { slot: 1, to: Endpoint::new("127.0.0.1", 7005) })
        );
    }

    #[test]
    fn ignores_other_errors() {
        for text in [
            "CLUSTERDOWN The cluster is down",
            "MOVED",
            "MOVED x 127.0.0.1:1",
            "ERR something MOVED 1 127.0.0.1:1",
            "Timeout Error: Request timed out.",
        ] {
            assert_eq!(parse_redirect(text, &node()), None, "{text}");
        }
    }
}
