//! Records the fred version from Cargo.lock, so `--version` can say which client library the probes measured.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut version = "unknown".to_string();
    let mut in_fred = false;
    for line in lock.lines() {
        if line.starts_with("name = ") {
            in_fred = line == "name = \"fred\"";
        } else if in_fred && line.starts_with("version = ") {
            version = line.trim_start_matches("version = ").trim_matches('"').to_string();
            break;
        }
    }
    println!("cargo:rustc-env=RFP_FRED_VERSION={version}");
}
