/// ARCHITECTURE.md: taskflows-constraints depends on taskflows-core alone among our crates.
#[test]
fn depends_on_core_alone() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let ours: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split_once(".workspace").or_else(|| l.split_once(" =")).map(|(name, _)| name.trim()))
        .filter(|name| name.starts_with("taskflows-") && !name.starts_with("taskflows-constraints"))
        .collect();
    assert_eq!(ours, ["taskflows-core"], "{manifest}");
}
