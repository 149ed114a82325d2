//! Docker image references, checked against the engine's grammar (distribution's
//! `reference` package) before anything is created, so a typo is an error naming the field
//! rather than a failed pull at the first start:
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component ( "/" path-component )*
//! domain    := host [ ":" port ]          (a first component with '.', ':' or "localhost")
//! component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest    := "sha256:" 64 lowercase hex digits
//! ```

use crate::ValueError;

/// The longest name (domain and path) the engine accepts.
const NAME_MAX: usize = 255;
/// The longest tag.
const TAG_MAX: usize = 128;

/// Accept `s` if it is a Docker image reference: `[registry[:port]/]name[:tag][@sha256:…]`.
pub fn check_image_reference(s: &str) -> Result<(), ValueError> {
    let fail = |what: String| {
        Err(ValueError::new(format!(
            "{s:?} is not an image reference: {what}; write [registry[:port]/]name[:tag][@sha256:DIGEST] \
             with a lowercase name, e.g. python:3.12 or ghcr.io/org/app:1.0"
        )))
    };
    if s.is_empty() {
        return fail("it is empty".to_owned());
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    if let Some(digest) = digest {
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return fail("the digest after '@' must be sha256:<64 hex digits>".to_owned());
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return fail("a sha256 digest is 64 lowercase hex digits".to_owned());
        }
    }
    // The tag is after the last ':' that follows the last '/' (a registry's port comes before it).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(Err(what)) = tag.map(check_tag) {
        return fail(what);
    }
    if name.len() > NAME_MAX {
        return fail(format!("the name is longer than {NAME_MAX} characters"));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && is_domain(components[0]) {
        let domain = components.remove(0);
        if let Err(what) = check_domain(domain) {
            return fail(what);
        }
    }
    for c in components {
        if let Err(what) = check_component(c) {
            return fail(what);
        }
    }
    Ok(())
}

/// Whether the first component names a registry (Docker's `splitDockerDomain`).
fn is_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err("the tag after ':' is empty".to_owned()),
        _ if tag.len() > TAG_MAX => Err(format!("the tag is longer than {TAG_MAX} characters")),
        [first, rest @ ..] if word(*first) && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-') => Ok(()),
        _ => Err(format!(
            "the tag {tag:?} may hold letters, digits, '_', '.' and '-', and must not start with '.' or '-'"
        )),
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(format!("the registry {domain:?} has an unclosed '['"));
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(format!("the registry {domain:?} is not an IPv6 address in brackets"));
        }
        match after {
            "" => ("", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return Err(format!("the registry {domain:?} has text after ']'")),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("the registry {domain:?} has a port that is not a number"));
    }
    if !domain.starts_with('[') {
        for label in host.split('.') {
            let b = label.as_bytes();
            let ok = !b.is_empty()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            if !ok {
                return Err(format!(
                    "the registry {domain:?} is not a host name (letters, digits and '-' between dots)"
                ));
            }
        }
    }
    Ok(())
}

fn check_component(c: &str) -> Result<(), String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() {
        return Err("the name has an empty path component (\"//\" or a '/' at an end)".to_owned());
    }
    if b.iter().any(u8::is_ascii_uppercase) {
        return Err(format!("the name component {c:?} has uppercase letters; names are lowercase"));
    }
    let bad = || {
        Err(format!(
            "the name component {c:?} may hold lowercase letters and digits, separated by one '.', \
             one or two '_', or '-'s"
        ))
    };
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-')) {
            return bad();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
