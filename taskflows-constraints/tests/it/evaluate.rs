use std::process::Command;

use taskflows_constraints::{Comparison, Evaluation, Measured, PressureKind, Timespan, evaluate, evaluate_all};

use crate::{cpus, memory, pressure};

#[test]
fn what_every_machine_has_holds() {
    let all = evaluate_all(&[memory(1, Comparison::GreaterOrEqual), cpus(1, Comparison::GreaterOrEqual)]).unwrap();
    assert!(all.iter().all(|e| e.holds), "{all:?}");
    let Measured::Bytes(bytes) = all[0].measured else { panic!("{:?}", all[0]) };
    assert!(bytes >= 16 << 20, "{bytes} bytes of memory");
    assert!(all[0].to_string().starts_with("memory "), "{}", all[0]);
    assert!(all[0].to_string().ends_with(" (limit >= 1B): ok"), "{}", all[0]);
}

#[test]
fn a_hundred_thousand_cpus_is_not_met() {
    let e = evaluate(&cpus(100_000, Comparison::GreaterOrEqual)).unwrap();
    assert!(!e.holds);
    let Measured::Cpus(n) = e.measured else { panic!("{e:?}") };
    assert_eq!(e.to_string(), format!("cpus {n} (limit >= 100000): not met"));
}

#[test]
fn cpus_are_the_affinity_mask() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim();
    let allowed: u32 = list
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
            None => 1,
        })
        .sum();
    let e = evaluate(&cpus(allowed, Comparison::Equal)).unwrap();
    assert!(e.holds, "{e}");
}

/// Ask systemd itself (`systemd-analyze condition` runs the checks in-process) whether the exact
/// values we measured are what it compares.
#[test]
fn memory_and_cpus_match_systemd() {
    let e = evaluate_all(&[memory(1, Comparison::GreaterOrEqual), cpus(1, Comparison::GreaterOrEqual)]).unwrap();
    let (Measured::Bytes(bytes), Measured::Cpus(n)) = (e[0].measured, e[1].measured) else { panic!("{e:?}") };
    let out = match Command::new("systemd-analyze")
        .args(["condition", &format!("ConditionMemory={bytes}"), &format!("ConditionCPUs={n}")])
        .output()
    {
        Ok(out) => out,
        Err(err) => {
            eprintln!("skipped: no systemd-analyze ({err})");
            return;
        }
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("ConditionMemory={bytes} succeeded")), "{text}");
    assert!(text.contains(&format!("ConditionCPUs={n} succeeded")), "{text}");
}

fn read_line(kind: &str, line: &str, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/pressure/{kind}")).unwrap();
    let l = text.lines().find(|l| l.starts_with(line)).unwrap();
    let v = l.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{field}="))).unwrap();
    v.parse().unwrap()
}

#[test]
fn pressure_comes_from_proc_pressure() {
    if !std::path::Path::new("/proc/pressure").exists() {
        let err = evaluate(&pressure(PressureKind::Cpu, 50.0, Timespan::Min5)).unwrap_err();
        assert!(err.to_string().starts_with("pressure stall information is not available"), "{err}");
        return;
    }
    for kind in [PressureKind::Cpu, PressureKind::Memory, PressureKind::Io] {
        for timespan in [Timespan::Sec10, Timespan::Min1, Timespan::Min5] {
            let e = evaluate(&pressure(kind, 100.0, timespan)).unwrap();
            let Measured::Percent(p) = e.measured else { panic!("{e:?}") };
            assert!((0.0..=100.0).contains(&p), "{e}");
            assert!(e.holds, "anything is at most 100%: {e}");
        }
    }
    // the 5-minute averages barely move between two reads: compare with the file itself, `some`
    // for CPU and `full` for memory and IO, as systemd reads them
    for (kind, name, line) in
        [(PressureKind::Cpu, "cpu", "some"), (PressureKind::Memory, "memory", "full"), (PressureKind::Io, "io", "full")]
    {
        let e: Evaluation = evaluate(&pressure(kind, 100.0, Timespan::Min5)).unwrap();
        let Measured::Percent(ours) = e.measured else { panic!("{e:?}") };
        let theirs = read_line(name, line, "avg300");
        assert!((ours - theirs).abs() < 0.5, "{name}: {ours} vs {line} avg300={theirs}");
        assert!(e.to_string().starts_with(&format!("{name}_pressure ")), "{e}");
        assert!(e.to_string().ends_with(" over 5min (limit 100%): ok"), "{e}");
    }
}
