//! Environment variables: one prefix, `TASKFLOWS_`. The Python `tf`'s `TF_` names are read as
//! aliases, so its users' settings keep working; when both are set, the `TASKFLOWS_` name wins.

/// The value of the variable `name` (either spelling: `TF_SMTP_HOST` or `TASKFLOWS_SMTP_HOST`),
/// the `TASKFLOWS_` one first; empty or blank values count as unset.
pub fn env_var(name: &str) -> Option<String> {
    lookup(name, |k| std::env::var(k).ok())
}

/// [`env_var`] over any source of variables.
pub(crate) fn lookup(name: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let suffix = name.strip_prefix("TASKFLOWS_").or_else(|| name.strip_prefix("TF_"));
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    match suffix {
        Some(s) => set(&format!("TASKFLOWS_{s}")).or_else(|| set(&format!("TF_{s}"))),
        None => set(name),
    }
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn taskflows_names_win_over_their_tf_aliases() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |k: &str| set.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let both = vars(&[("TF_SMTP_HOST", "old"), ("TASKFLOWS_SMTP_HOST", "new")]);
        assert_eq!(lookup("TF_SMTP_HOST", both), Some("new".into()));
        assert_eq!(lookup("TASKFLOWS_SMTP_HOST", both), Some("new".into()));
        let old = vars(&[("TF_SMTP_HOST", "old"), ("TASKFLOWS_SMTP_HOST", " ")]);
        assert_eq!(lookup("TASKFLOWS_SMTP_HOST", old), Some("old".into()));
        assert_eq!(lookup("HOME", vars(&[("HOME", "/root")])), Some("/root".into()));
        assert_eq!(lookup("TF_JWT_SECRET", vars(&[])), None);
    }
}
