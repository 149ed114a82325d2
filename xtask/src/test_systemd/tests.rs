use super::{Tally, package_name, parse_result};

fn check(line: &str, expected: Option<(u64, u64)>) {
    let got = parse_result(line).map(|Tally { passed, failed }| (passed, failed));
    assert_eq!(got, expected, "{line}");
}

#[test]
fn parses_libtest_result_lines() {
    check(
        "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        Some((3, 0)),
    );
    check(
        "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.20s",
        Some((1, 2)),
    );
    check("running 3 tests", None);
    check("test it::unit_runs ... ok", None);
}

#[test]
fn names_packages_from_ids() {
    assert_eq!(package_name("path+file:///work/wt-xtask/xtask#0.0.0"), "xtask");
    assert_eq!(package_name("path+file:///work/wt-xtask/taskflows-core#taskflows-core@0.0.0"), "taskflows-core");
}
