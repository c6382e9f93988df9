//! The training-config parser never panics: arbitrary text, arbitrary
//! bytes spliced into the shipped configs, and well-formed TOML with
//! hostile values all end in `Ok` or a typed error whose message names the
//! file (and, for a bad field, the field).

use std::path::{Path, PathBuf};

use ferrograph_train::config::TrainConfig;
use proptest::prelude::*;

fn shipped() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/train");
    let mut out: Vec<(PathBuf, String)> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect();
    out.sort();
    assert!(out.len() >= 10, "the shipped configs are missing");
    out
}

fn check(text: &str, path: &Path) {
    if let Err(e) = TrainConfig::parse(text, path) {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        assert!(msg.contains(&path.display().to_string()), "the error does not name the file: {msg}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn spliced_shipped_configs_never_panic(which in 0usize..64, at in 0usize..4096, cut in 0usize..64, insert in "\\PC{0,24}") {
        let configs = shipped();
        let (path, text) = &configs[which % configs.len()];
        let mut b = text.clone().into_bytes();
        let at = at % (b.len() + 1);
        let end = (at + cut).min(b.len());
        b.splice(at..end, insert.bytes());
        if let Ok(t) = String::from_utf8(b) {
            check(&t, path);
        }
    }

    #[test]
    fn hostile_values_never_panic(
        key in prop::sample::select(ferrograph_train::fields::ALL.to_vec()),
        value in prop::sample::select(vec![
            "0", "-1", "18446744073709551615", "1e308", "-1e308", "nan", "inf", "-0.0", "true", "\"\"", "\"\\u0000\"",
            "[]", "[0]", "[-5]", "[1e9]", "[[\"\"]]", "{}", "{ a = [] }", "\"../../../../etc/passwd\"", "\"é\"",
            "[18446744073709551615, 1]", "99999999999",
        ]),
    ) {
        let (section, field) = key.split_once('.').unwrap_or(("", key));
        let text = if section.is_empty() {
            format!("{field} = {value}\n[data]\nbuiltin = \"planted\"\nnode_type = \"node\"\nlabel = \"label\"\nfeatures = \"feat\"\n")
        } else if section == "data" {
            format!("[data]\nbuiltin = \"planted\"\nnode_type = \"node\"\n{field} = {value}\n")
        } else {
            format!("[data]\nbuiltin = \"planted\"\nnode_type = \"node\"\nlabel = \"label\"\nfeatures = \"feat\"\n[{section}]\n{field} = {value}\n")
        };
        check(&text, Path::new("hostile.toml"));
    }
}
