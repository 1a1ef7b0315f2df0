//! The README's quick start: examples/quickstart run in place, from its
//! folder inside a repository (as in this project), so its own
//! session.config.json is the one used.

use crate::harness::*;
use std::path::Path;

#[test]
fn quickstart_example_runs_in_place_from_its_folder() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let files: Vec<(String, String)> = ["compose.yaml", "session.config.json"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(example.join(f)).unwrap();
            (format!("examples/quickstart/{f}"), text)
        })
        .collect();
    let mut refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    refs.push(("Cargo.toml", "[package]\nname = \"x\"\n"));
    let repo = TestRepo::named("dev-prism", &refs);
    let dir = repo.root.join("examples/quickstart");

    let out = repo.ok_in(&dir, &["create", "--in-place"]);
    let table = stdout(&out);
    assert!(table.contains("web") && table.contains("db"), "{table}");
    let env = read_env(&dir.join(".env.session"));
    let web: u16 = env_get(&env, "WEB_PORT").unwrap().parse().unwrap();
    let db: u16 = env_get(&env, "DB_PORT").unwrap().parse().unwrap();
    assert!(web != 8080 && db != 5432);
    assert!(http_get(web).contains("hello from dev-prism"));
    let url = env_get(&env, "DATABASE_URL").unwrap();
    assert!(
        url.starts_with("postgresql://app:secret@") && url.ends_with(&format!(":{db}/app")),
        "{url}"
    );
    let project = env_get(&env, "COMPOSE_PROJECT_NAME").unwrap().to_string();
    assert!(
        project.starts_with("quickstart-"),
        "the example's own config: {project}"
    );
    // the example's generated files are ignored by git
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    repo.ok_in(&dir, &["destroy"]);
    assert_eq!(leftovers(&project), (0, 0, 0));
    assert!(!dir.join(".env.session").exists());
}
