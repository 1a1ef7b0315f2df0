//! The README's quick start: examples/quickstart run in place.

use crate::harness::*;
use std::path::Path;

#[test]
fn quickstart_example_runs_in_place() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let files: Vec<(String, String)> = ["compose.yaml", "session.config.json"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(example.join(f)).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let repo = TestRepo::named("quickstart", &refs);
    let out = repo.ok(&["create", "--in-place"]);
    let table = stdout(&out);
    assert!(table.contains("web") && table.contains("db"), "{table}");
    let env = read_env(&repo.root.join(".env.session"));
    let web: u16 = env_get(&env, "WEB_PORT").unwrap().parse().unwrap();
    let db: u16 = env_get(&env, "DB_PORT").unwrap().parse().unwrap();
    assert!(web != 8080 && db != 5432);
    assert!(http_get(web).contains("hello from dev-prism"));
    let url = env_get(&env, "DATABASE_URL").unwrap();
    assert!(
        url.starts_with("postgresql://app:secret@") && url.ends_with(&format!(":{db}/app")),
        "{url}"
    );
    assert!(env_get(&env, "COMPOSE_PROJECT_NAME")
        .unwrap()
        .starts_with("quickstart-"));
    let project = repo.projects().remove(0);
    repo.ok(&["destroy"]);
    assert_eq!(leftovers(&project), (0, 0, 0));
}
