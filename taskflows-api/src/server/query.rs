//! Query strings: `key=value` pairs, percent-decoded, each key known to the route and given once.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// The decoded parameters of a query.
pub(super) struct Query(BTreeMap<String, String>);

impl Query {
    /// Parse `raw` (without `?`), allowing only `known` keys, each once.
    pub(super) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Query> {
        let mut map = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k).ok_or_else(|| Error::usage("query: a key is not valid percent-encoded UTF-8", None))?;
            let value =
                decode(v).ok_or_else(|| Error::usage(format!("{key}: not valid percent-encoded UTF-8"), None))?;
            if !known.contains(&key.as_str()) {
                let allowed = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(Error::usage(format!("query: unknown parameter {key:?} (allowed: {allowed})"), None));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(Error::usage(format!("{key}: given twice; once is allowed"), None));
            }
        }
        Ok(Query(map))
    }

    pub(super) fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A yes/no parameter: `true`/`false` (`1`/`0`), absent = false.
    pub(super) fn flag(&self, key: &str) -> Result<bool> {
        match self.text(key) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(_) => Err(Error::usage(format!("{key}: true or false is allowed"), None)),
        }
    }

    /// A count within `1..=max`, `default` when absent.
    pub(super) fn count(&self, key: &str, default: usize, max: usize) -> Result<usize> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Error::usage(format!("{key}: a whole number from 1 to {max} is allowed"), None)),
            },
        }
    }
}

/// Percent-decode (`+` is a space, as forms send it).
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn queries_parse_and_refuse_duplicates_and_unknown_keys() {
        let q = Query::parse(Some("match=web-%2A&lines=20"), &["match", "lines"]).unwrap();
        assert_eq!(q.text("match"), Some("web-*"));
        assert_eq!(q.count("lines", 50, 100).unwrap(), 20);
        assert_eq!(q.count("other", 50, 100).unwrap(), 50);
        let e = |raw: &str| Query::parse(Some(raw), &["lines"]).err().unwrap().to_string();
        assert_eq!(e("lines=1&lines=2"), "lines: given twice; once is allowed");
        assert!(e("limit=1").contains("unknown parameter \"limit\""));
        assert!(e("lines=%zz").contains("lines: not valid"));
        let q = Query::parse(Some("lines=0"), &["lines"]).unwrap();
        assert_eq!(q.count("lines", 5, 100).unwrap_err().to_string(), "lines: a whole number from 1 to 100 is allowed");
    }
}
