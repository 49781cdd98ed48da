//! One formatter for library errors. fred turns `std::io::Error`, rustls and URL errors into their `Debug` text
//! (`Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }`); every place that puts a library
//! error into output (events, plain lines, one-line errors, reports) goes through [`fred_error`] or [`readable`]
//! so people read `connection refused` instead. Classification still looks at the raw details
//! ([`crate::probe::classify`]); only the text shown changes.

/// The text to show for a fred error: its details, with any `Debug` rendering of an I/O or TLS error made
/// readable. fred's kind prefix ("IO Error: ") is left out: the details say more.
pub fn fred_error(err: &fred::error::Error) -> String {
    let text = readable(err.details());
    if text.is_empty() {
        err.kind().to_str().to_string()
    } else {
        text
    }
}

/// `details` with every `Debug` rendering of a `std::io::Error` in it replaced by its message
/// (`Os { .. message: "Connection refused" }` → `connection refused`, `Custom { kind: .., error: "boom" }` →
/// `boom`, `Kind(TimedOut)` → `timed out`), and a bare `Debug` value such as rustls'
/// `InvalidCertificate(UnknownIssuer)` spelt out in words. Other text is kept as it is, on one line.
pub fn readable(details: &str) -> String {
    let one_line = details.split_whitespace().collect::<Vec<_>>().join(" ");
    match io_debug(&one_line).or_else(|| debug_value(&one_line)) {
        Some(words) => words,
        None => without_debug(&one_line),
    }
}

/// `text` with every `Debug` rendering of a `std::io::Error` inside it replaced by its message, and nothing else
/// changed: the last safety net of the plain view, for text that is not only a library error.
pub fn without_debug(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some((start, end, text)) = next_io_debug(rest) {
        out.push_str(&rest[..start]);
        out.push_str(&text);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where the next `Debug` text of an io::Error starts and ends in `text`, and what to show instead.
fn next_io_debug(text: &str) -> Option<(usize, usize, String)> {
    const OPENINGS: [&str; 4] = ["Os {", "Custom {", "Error { kind:", "Kind("];
    let mut best: Option<(usize, usize, String)> = None;
    for opening in OPENINGS {
        let mut from = 0;
        while let Some(found) = text[from..].find(opening) {
            let start = from + found;
            from = start + opening.len();
            if best.as_ref().is_some_and(|b| b.0 <= start) {
                break;
            }
            let at_word_start = text[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if !at_word_start {
                continue;
            }
            let Some(end) = closing(text, start) else { continue };
            if let Some(shown) = io_debug(&text[start..end]) {
                best = Some((start, end, shown));
            }
            break;
        }
    }
    best
}

/// The end (exclusive) of the bracketed value that opens at `start`: past the bracket that closes the first
/// `{` or `(`, with quoted strings skipped.
fn closing(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in outside_strings(&text[start..]) {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(start + i + c.len_utf8());
                }
            }
            _ => {}
        }
    }
    None
}

/// The characters of `text` (with their byte offsets) that stand outside `Debug`-quoted strings; the quotes
/// themselves and everything between them are skipped.
fn outside_strings(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    text.char_indices().filter(move |&(_, c)| {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            return false;
        }
        if c == '"' {
            in_string = true;
            return false;
        }
        true
    })
}

/// The readable text of one io::Error `Debug` value (`Os {..}`, `Custom {..}`, `Error { kind, message }`,
/// `Kind(..)`).
fn io_debug(value: &str) -> Option<String> {
    if closing(value, 0) != Some(value.len()) {
        return None;
    }
    if let Some(kind) = value.strip_prefix("Kind(").and_then(|v| v.strip_suffix(')')) {
        return Some(io_kind(kind.trim()));
    }
    let (name, body) = value.split_once('{')?;
    let body = body.strip_suffix('}')?;
    let fields = fields(body);
    let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    match name.trim() {
        "Os" | "Error" => match field("message") {
            Some(m) => Some(sentence_case(&unquote(m)?)),
            None => field("kind").map(io_kind),
        },
        "Custom" => match field("error") {
            Some(e) if e.starts_with('"') => Some(unquote(e)?),
            Some(e) => Some(readable(e)),
            None => field("kind").map(io_kind),
        },
        _ => None,
    }
}

/// `key: value` pairs of a `Debug` struct body, split at the commas that are not nested or quoted.
fn fields(body: &str) -> Vec<(&str, &str)> {
    fn push<'a>(out: &mut Vec<(&'a str, &'a str)>, part: &'a str) {
        if let Some((k, v)) = part.split_once(':') {
            out.push((k.trim(), v.trim()));
        }
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, c) in outside_strings(body) {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                push(&mut out, &body[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    push(&mut out, &body[from..]);
    out
}

/// The string a `Debug`-quoted literal (`"say \"hi\""`) stands for.
fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push(' '),
            Some('t') => out.push(' '),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// std's own description of an `io::ErrorKind` named by its `Debug` name (`TimedOut` → `timed out`); the name
/// in words for kinds std has no stable variant of.
fn io_kind(name: &str) -> String {
    use std::io::ErrorKind as K;
    let known = [
        K::NotFound,
        K::PermissionDenied,
        K::ConnectionRefused,
        K::ConnectionReset,
        K::ConnectionAborted,
        K::NotConnected,
        K::AddrInUse,
        K::AddrNotAvailable,
        K::BrokenPipe,
        K::AlreadyExists,
        K::WouldBlock,
        K::InvalidInput,
        K::InvalidData,
        K::TimedOut,
        K::WriteZero,
        K::Interrupted,
        K::Unsupported,
        K::UnexpectedEof,
        K::OutOfMemory,
        K::Other,
    ];
    known.iter().find(|k| format!("{k:?}") == name).map(|k| k.to_string()).unwrap_or_else(|| words(name))
}

/// A whole `Debug` value that is a type or variant name, alone or with one argument or a body
/// (`InvalidCertificate(UnknownIssuer)`, `AlertReceived(HandshakeFailure)`, `EmptyHost`), spelt out in words.
/// `None` for anything else: server replies such as `MOVED 3999 …` or `NOAUTH …` are left alone.
fn debug_value(text: &str) -> Option<String> {
    let name_end = text.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    let is_name = name.starts_with(|c: char| c.is_ascii_uppercase()) && name.chars().any(|c| c.is_ascii_lowercase());
    if !is_name {
        return None;
    }
    if rest.is_empty() {
        return Some(words(name));
    }
    let rest = rest.trim_start();
    if closing(rest, 0) != Some(rest.len()) {
        return None;
    }
    if rest.starts_with('(') {
        let inner = &rest[1..rest.len() - 1];
        if let Some(shown) = io_debug(inner) {
            return Some(format!("{}: {shown}", words(name)));
        }
        let shown = debug_value(inner.trim()).unwrap_or_else(|| readable(inner));
        return Some(format!("{} ({shown})", words(name)));
    }
    if rest.starts_with('{') {
        return io_debug(text).or_else(|| Some(words(name)));
    }
    None
}

/// `UnknownIssuer` → `unknown issuer`.
fn words(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c == '_' {
            out.push(' ');
        } else if c.is_ascii_uppercase() && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        prev = Some(c);
    }
    out
}

/// The OS message with a lower-case first letter, as in the rest of the tool's lines (`Connection refused` →
/// `connection refused`), unless the first word is an acronym.
fn sentence_case(message: &str) -> String {
    let mut chars = message.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(message[first.len_utf8()..].chars()).collect()
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn debug_of(err: io::Error) -> String {
        format!("{err:?}")
    }

    #[test]
    fn os_errors_show_their_message() {
        let text = debug_of(io::Error::from_raw_os_error(111));
        assert!(text.starts_with("Os {"), "{text}");
        assert_eq!(readable(&text), "connection refused");
        assert_eq!(readable(&debug_of(io::Error::from_raw_os_error(110))), "connection timed out");
        assert_eq!(readable(&debug_of(io::Error::from_raw_os_error(104))), "connection reset by peer");
        assert_eq!(readable(&debug_of(io::Error::from_raw_os_error(113))), "no route to host");
    }

    #[test]
    fn custom_errors_show_the_inner_message() {
        let text = debug_of(io::Error::new(io::ErrorKind::InvalidData, "frame too \"large\""));
        assert!(text.starts_with("Custom {"), "{text}");
        assert_eq!(readable(&text), "frame too \"large\"");
        let text = debug_of(io::Error::other("failed to lookup address information: Name or service not known"));
        assert_eq!(readable(&text), "failed to lookup address information: Name or service not known");
    }

    #[test]
    fn bare_kinds_use_std_descriptions() {
        let text = debug_of(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(text, "Kind(TimedOut)");
        assert_eq!(readable(&text), "timed out");
        assert_eq!(readable(&debug_of(io::Error::from(io::ErrorKind::UnexpectedEof))), "unexpected end of file");
        assert_eq!(readable(&debug_of(io::Error::from(io::ErrorKind::BrokenPipe))), "broken pipe");
    }

    #[test]
    fn simple_messages_show_their_message() {
        // std's `SimpleMessage` form, e.g. from read_exact.
        let mut buf = [0u8; 4];
        let err = io::Read::read_exact(&mut &b"ab"[..], &mut buf).unwrap_err();
        let text = debug_of(err);
        assert!(text.contains("kind: UnexpectedEof"), "{text}");
        assert_eq!(readable(&text), "failed to fill whole buffer");
    }

    #[test]
    fn debug_text_inside_a_sentence_is_replaced() {
        let os = debug_of(io::Error::from_raw_os_error(111));
        assert_eq!(readable(&format!("IO Error: {os}")), "IO Error: connection refused");
        assert_eq!(
            readable(&format!("CLUSTER NODES on 127.0.0.1:7000: {os}.")),
            "CLUSTER NODES on 127.0.0.1:7000: connection refused."
        );
    }

    #[test]
    fn tls_debug_values_are_spelt_out() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(readable(&format!("{tls:?}")), "invalid certificate (unknown issuer)");
        let wrapped = debug_of(io::Error::new(io::ErrorKind::InvalidData, tls));
        assert_eq!(readable(&wrapped), "invalid certificate (unknown issuer)");
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(readable(&format!("{alert:?}")), "alert received (handshake failure)");
    }

    #[test]
    fn server_replies_and_plain_text_are_kept() {
        for text in [
            "MOVED 3999 127.0.0.1:6381",
            "CLUSTERDOWN The cluster is down",
            "NOAUTH Authentication required.",
            "WRONGPASS invalid username-password pair or user is disabled.",
            "Request timed out.",
            "Canceled.",
            "Unresponsive connection.",
            "ERR unknown command 'FOO', with args beginning with: ",
        ] {
            assert_eq!(readable(text), text.trim_end(), "{text}");
        }
    }

    #[test]
    fn fred_errors_from_io_errors_are_readable() {
        let err = fred::error::Error::from(io::Error::from_raw_os_error(111));
        assert!(err.details().contains("Os {"), "{}", err.details());
        assert_eq!(fred_error(&err), "connection refused");
        let err = fred::error::Error::new(fred::error::ErrorKind::Cluster, "MOVED 1 127.0.0.1:7001");
        assert_eq!(fred_error(&err), "MOVED 1 127.0.0.1:7001");
        let err = fred::error::Error::new(fred::error::ErrorKind::IO, "");
        assert_eq!(fred_error(&err), "IO Error");
        let shown = fred_error(&fred::error::Error::from(io::Error::from(io::ErrorKind::ConnectionReset)));
        assert_eq!(shown, "connection reset");
    }
}
