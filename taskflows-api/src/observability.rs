//! Log shipping configurations: the journal of taskflows units to Loki, with the labels the
//! dashboard ([`crate::grafana`]) and alert links query — `job="taskflows"`, `unit` (the unit,
//! `taskflows-NAME.service`), `task` on task records, and `environment`/`app` when set. For
//! Fluent Bit (`systemd` input, `loki` output) and for Grafana Alloy (`loki.source.journal`).

use taskflows_core::Scope;

/// Where logs go and the labels every line gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiTarget {
    /// Loki's host.
    pub host: String,
    /// Loki's port.
    pub port: u16,
    /// `https` when true.
    pub tls: bool,
    /// `ENVIRONMENT`, a label when set.
    pub environment: Option<String>,
    /// `APP_NAME`, a label when set.
    pub app: Option<String>,
}

impl LokiTarget {
    /// From `TASKFLOWS_LOKI_URL` (`http[s]://HOST[:PORT]`), else `LOKI_HOST` and `LOKI_PORT`
    /// (default 3100), with `ENVIRONMENT` and `APP_NAME`; `var` looks a variable up.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> crate::Result<LokiTarget> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (environment, app) = (label_var(&var, "ENVIRONMENT")?, label_var(&var, "APP_NAME")?);
        if let Some(url) = var("TASKFLOWS_LOKI_URL") {
            let bad =
                || crate::Error::usage(format!("TASKFLOWS_LOKI_URL {url:?}: http[s]://HOST[:PORT] is allowed"), None);
            let (tls, rest) = match url.split_once("://") {
                Some(("https", rest)) => (true, rest),
                Some(("http", rest)) => (false, rest),
                _ => return Err(bad()),
            };
            let rest = rest.trim_end_matches('/');
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !p.contains(']') => (h, p.parse().map_err(|_| bad())?),
                _ => (rest, if tls { 443 } else { 3100 }),
            };
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)) {
                return Err(bad());
            }
            return Ok(LokiTarget { host: host.to_owned(), port, tls, environment, app });
        }
        let Some((host, port)) = loki_host_port(&var)? else {
            return Err(crate::Error::usage(
                "no Loki: set TASKFLOWS_LOKI_URL (http://HOST:3100), or LOKI_HOST and LOKI_PORT",
                None,
            ));
        };
        Ok(LokiTarget { host, port, tls: false, environment, app })
    }

    fn static_labels(&self) -> Vec<(&'static str, &str)> {
        let mut labels = vec![("job", "taskflows")];
        if let Some(e) = &self.environment {
            labels.push(("environment", e));
        }
        if let Some(a) = &self.app {
            labels.push(("app", a));
        }
        labels
    }

    fn url(&self) -> String {
        format!("{}://{}:{}/loki/api/v1/push", if self.tls { "https" } else { "http" }, self.host, self.port)
    }
}

/// A label's value from variable `name` (`ENVIRONMENT`, `APP_NAME`): letters, digits, `-`, `_`
/// and `.`, so that it is written into a pipeline's configuration and a LogQL selector as it is.
/// `var` gives trimmed, non-empty values.
pub(crate) fn label_var(var: &impl Fn(&str) -> Option<String>, name: &str) -> crate::Result<Option<String>> {
    match var(name) {
        Some(v) if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) => {
            Err(crate::Error::usage(format!("{name}: letters, digits, - _ and . are allowed"), None))
        }
        v => Ok(v),
    }
}

/// `LOKI_HOST` and `LOKI_PORT` (default 3100), when `LOKI_HOST` is set. `var` gives trimmed,
/// non-empty values.
pub(crate) fn loki_host_port(var: &impl Fn(&str) -> Option<String>) -> crate::Result<Option<(String, u16)>> {
    let Some(host) = var("LOKI_HOST") else { return Ok(None) };
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)) {
        return Err(crate::Error::usage("LOKI_HOST: a host name or address is allowed", None));
    }
    let port = match var("LOKI_PORT") {
        Some(p) => p.parse().map_err(|_| crate::Error::usage("LOKI_PORT: a port number is allowed", None))?,
        None => 3100,
    };
    Ok(Some((host, port)))
}

/// The journal field naming the unit of a line, in `scope`.
fn unit_field(scope: Scope) -> &'static str {
    match scope {
        Scope::System => "_SYSTEMD_UNIT",
        Scope::User => "_SYSTEMD_USER_UNIT",
    }
}

/// A Fluent Bit configuration (classic format) shipping the journal lines of `scope`'s taskflows
/// units to Loki.
pub fn fluent_bit(target: &LokiTarget, scope: Scope) -> String {
    let unit = unit_field(scope);
    let mut labels: Vec<String> = target.static_labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.push(format!("unit=${unit}"));
    labels.push("task=$TASKFLOWS_TASK_NAME".to_owned());
    format!(
        "# taskflows: the journal of taskflows units to Loki (tf observability config --fluent-bit)\n\
         [SERVICE]\n    Flush        1\n    Log_Level    warn\n\n\
         [INPUT]\n    Name              systemd\n    Tag               taskflows\n    Read_From_Tail    On\n    DB                /var/lib/fluent-bit/taskflows-journal.db\n\n\
         [FILTER]\n    Name     grep\n    Match    taskflows\n    Regex    {unit} ^(stop-|restart-)?taskflows-\n\n\
         # a task's log lines carry its span's fields (TASK_NAME, TASK_ID); its record TASKFLOWS_TASK_NAME\n\
         [FILTER]\n    Name     modify\n    Match    taskflows\n    Copy     TASK_NAME TASKFLOWS_TASK_NAME\n\n\
         [OUTPUT]\n    Name          loki\n    Match         taskflows\n    Host          {host}\n    Port          {port}\n    tls           {tls}\n    Labels        {labels}\n    Line_Format   key_value\n    Drop_Single_Key  On\n    Remove_Keys   {unit},TASKFLOWS_TASK_NAME\n",
        host = target.host,
        port = target.port,
        tls = if target.tls { "On" } else { "Off" },
        labels = labels.join(", "),
    )
}

/// A Grafana Alloy configuration doing the same.
pub fn alloy(target: &LokiTarget, scope: Scope) -> String {
    let unit = format!("__journal_{}", unit_field(scope).to_ascii_lowercase());
    let statics: Vec<String> = target.static_labels().iter().map(|(k, v)| format!("{k} = \"{v}\"")).collect();
    format!(
        "// taskflows: the journal of taskflows units to Loki (tf observability config --alloy)\n\
         loki.relabel \"taskflows\" {{\n  forward_to = []\n\n  rule {{\n    source_labels = [\"{unit}\"]\n    regex         = \"(stop-|restart-)?taskflows-.*\"\n    action        = \"keep\"\n  }}\n  rule {{\n    source_labels = [\"{unit}\"]\n    target_label  = \"unit\"\n  }}\n  rule {{\n    source_labels = [\"__journal_task_name\"]\n    regex         = \"(.+)\"\n    target_label  = \"task\"\n  }}\n  rule {{\n    source_labels = [\"__journal_taskflows_task_name\"]\n    regex         = \"(.+)\"\n    target_label  = \"task\"\n  }}\n}}\n\n\
         loki.source.journal \"taskflows\" {{\n  forward_to    = [loki.write.taskflows.receiver]\n  relabel_rules = loki.relabel.taskflows.rules\n  labels        = {{ {statics} }}\n}}\n\n\
         loki.write \"taskflows\" {{\n  endpoint {{\n    url = \"{url}\"\n  }}\n}}\n",
        statics = statics.join(", "),
        url = target.url(),
    )
}

#[cfg(test)]
mod tests {
    use super::LokiTarget;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn targets_come_from_the_variables() {
        let t =
            LokiTarget::from_vars(vars(&[("TASKFLOWS_LOKI_URL", "https://loki.example.com"), ("ENVIRONMENT", "prod")]))
                .unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls, t.environment.as_deref()),
            ("loki.example.com", 443, true, Some("prod"))
        );
        let t = LokiTarget::from_vars(vars(&[("LOKI_HOST", "loki"), ("LOKI_PORT", "3101")])).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("loki", 3101, false));
        let t = LokiTarget::from_vars(vars(&[("TASKFLOWS_LOKI_URL", "http://10.0.0.5:3100/")])).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.5", 3100));
        for bad in [
            &[("TASKFLOWS_LOKI_URL", "ftp://x")][..],
            &[("LOKI_HOST", "a b")],
            &[],
            &[("LOKI_HOST", "l"), ("APP_NAME", "a\"b")],
        ] {
            let pairs: Vec<(String, String)> = bad.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let e = LokiTarget::from_vars(|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
            assert!(e.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn configurations_label_what_the_dashboard_queries() {
        let t = LokiTarget { host: "loki".into(), port: 3100, tls: false, environment: Some("prod".into()), app: None };
        let fb = super::fluent_bit(&t, taskflows_core::Scope::System);
        assert!(
            fb.contains(
                "Labels        job=taskflows, environment=prod, unit=$_SYSTEMD_UNIT, task=$TASKFLOWS_TASK_NAME"
            ),
            "{fb}"
        );
        let alloy = super::alloy(&t, taskflows_core::Scope::User);
        assert!(
            alloy.contains("__journal__systemd_user_unit") && alloy.contains("target_label  = \"unit\""),
            "{alloy}"
        );
        assert!(alloy.contains("url = \"http://loki:3100/loki/api/v1/push\""), "{alloy}");
        assert!(crate::grafana::dashboard().to_string().contains(crate::grafana::LOKI_UNIT_LABEL));
    }
}
