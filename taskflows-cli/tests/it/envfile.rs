//! What `tf` reads from an env file is what systemd reads from it: generated env files (quotes,
//! backslashes, `$`, `export`, comments, blanks, continuation lines) are parsed by
//! `taskflows_core::parse_env_file` and by systemd 252 itself (a transient service with
//! `EnvironmentFile=` printing its environment); every file tf accepts must give the same
//! variables under systemd.

use std::collections::BTreeMap;
use std::process::Command;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// One generated env file.
fn generate(rng: &mut Rng) -> String {
    const PIECES: [&str; 22] = [
        "a", "b c", "\"", "'", "\\", "$", "${X}", "#", ";", "=", " ", "\t", "é", "x", "1", "\\n", "\\\"", "\\'", "$$",
        "%", "\"q\"", "'s'",
    ];
    let mut text = String::new();
    for i in 0..(1 + rng.next() % 4) {
        match rng.next() % 10 {
            0 => text.push_str("# a comment\n"),
            1 => text.push('\n'),
            _ => {
                let prefix = rng.pick(&["", "", "", " ", "", "export "]);
                let mut value = String::new();
                for _ in 0..(rng.next() % 5) {
                    value.push_str(rng.pick(&PIECES));
                }
                let quote = rng.pick(&["", "", "\"", "'"]);
                let sep = rng.pick(&["=", "=", " = ", "= "]);
                text.push_str(&format!("{prefix}TFK_{i}{sep}{quote}{value}{quote}\n"));
            }
        }
    }
    text
}

/// The `TFK_*` variables systemd gives a service reading `file`; `None` when the start failed.
fn systemd_reads(file: &std::path::Path) -> Option<BTreeMap<String, String>> {
    let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
    let out = Command::new("systemd-run")
        .args(if user { &["--user"][..] } else { &[][..] })
        .args(["--quiet", "--wait", "--pipe", "--collect"])
        .arg(format!("--property=EnvironmentFile={}", file.display()))
        .args(["/usr/bin/env", "-0"])
        .output()
        .expect("systemd-run runs");
    if !out.status.success() {
        return None;
    }
    Some(
        out.stdout
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv).into_owned();
                let (k, v) = kv.split_once('=')?;
                k.starts_with("TFK_").then(|| (k.to_owned(), v.to_owned()))
            })
            .collect(),
    )
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn env_files_read_the_same_by_tf_and_systemd() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("generated.env");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut accepted, mut refused) = (0, 0);
    let mut mismatches: Vec<String> = Vec::new();
    for case in 0..300 {
        let text = generate(&mut rng);
        std::fs::write(&file, &text).unwrap();
        let ours = match taskflows_core::parse_env_file(&text) {
            Ok(vars) => vars.into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect::<BTreeMap<_, _>>(),
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        accepted += 1;
        let theirs = systemd_reads(&file);
        if theirs.as_ref() != Some(&ours) {
            mismatches.push(format!("case {case}: {text:?}\n  tf:      {ours:?}\n  systemd: {theirs:?}"));
        }
    }
    crate::figure(&format!(
        "env files: {} generated, {accepted} accepted by tf ({refused} refused), {} read differently by systemd",
        accepted + refused,
        mismatches.len()
    ));
    assert!(mismatches.is_empty(), "{} of {accepted}:\n{}", mismatches.len(), mismatches.join("\n"));
}
