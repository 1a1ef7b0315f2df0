//! Load and validate `session.config.json` (or the original tool's
//! `session.config.mjs` / `.js`, evaluated with node).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::process::Cmd;

/// Config file names, in lookup order.
pub const CONFIG_FILES: [&str; 3] = [
    "session.config.json",
    "session.config.mjs",
    "session.config.js",
];

const KNOWN_KEYS: [&str; 8] = [
    "projectName",
    "sessionsDir",
    "composeFiles",
    "services",
    "apps",
    "envFiles",
    "setup",
    "appEnv",
];
const OBSOLETE_KEYS: [&str; 2] = ["portBase", "ports"];

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub sessions_dir: Option<String>,
    #[serde(default)]
    pub compose_files: Option<Vec<String>>,
    #[serde(default)]
    pub services: Vec<ExtraService>,
    #[serde(default)]
    pub apps: Vec<String>,
    #[serde(default)]
    pub env_files: Vec<String>,
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub app_env: BTreeMap<String, BTreeMap<String, String>>,
}

/// A container port to publish although the compose file does not.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtraService {
    pub name: String,
    pub internal_port: u16,
}

/// A loaded config, where it came from, and what it warned about.
#[derive(Debug, Default)]
pub struct Loaded {
    pub config: Config,
    pub path: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Find and load the config in `root` (the main worktree root). No file is
/// the default config.
pub fn load(root: &Path) -> Result<Loaded> {
    for name in CONFIG_FILES {
        let path = root.join(name);
        if !path.is_file() {
            continue;
        }
        let text = if name.ends_with(".json") {
            std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?
        } else {
            eval_js(&path)?
        };
        let (config, warnings) = parse(&text, &path)?;
        return Ok(Loaded {
            config,
            path: Some(path),
            warnings,
        });
    }
    Ok(Loaded::default())
}

/// Parse config JSON; errors name the file, line and column, or the key.
pub fn parse(text: &str, path: &Path) -> Result<(Config, Vec<String>)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "invalid JSON in {} at line {}, column {}: {}",
            path.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        )
    })?;
    let Some(map) = value.as_object() else {
        bail!("{}: the config must be a JSON object", path.display());
    };
    let mut warnings = Vec::new();
    for key in map.keys() {
        if OBSOLETE_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{}: `{key}` is ignored: Docker now assigns every port",
                path.display()
            ));
        } else if !KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{}: unknown key `{key}` is ignored",
                path.display()
            ));
        }
    }
    for key in KNOWN_KEYS {
        let Some(v) = map.get(key) else { continue };
        let mut one = serde_json::Map::new();
        one.insert(key.to_string(), v.clone());
        if let Err(e) = serde_json::from_value::<Config>(serde_json::Value::Object(one)) {
            bail!(
                "{}: `{key}` {}: expected {}",
                path.display(),
                strip_position(&e.to_string()),
                expected(key)
            );
        }
    }
    let config: Config = serde_json::from_value(value)
        .with_context(|| format!("invalid config in {}", path.display()))?;
    for f in &config.env_files {
        require_inside(path, "envFiles", f)?;
    }
    for dir in config.app_env.keys() {
        require_inside(path, "appEnv", dir)?;
    }
    Ok((config, warnings))
}

/// Files dev-prism writes must stay inside the session directory: a
/// relative path without `..` (an absolute `envFiles` entry would otherwise
/// be copied onto itself, and `../x` written outside the worktree).
fn require_inside(path: &Path, key: &str, value: &str) -> Result<()> {
    let p = Path::new(value);
    let escapes = p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes || value.is_empty() {
        bail!(
            "{}: `{key}` entry `{value}` must be a path relative to the project folder, without `..`",
            path.display()
        );
    }
    Ok(())
}

fn expected(key: &str) -> &'static str {
    match key {
        "projectName" | "sessionsDir" => "a string",
        "composeFiles" | "apps" | "envFiles" | "setup" => "an array of strings",
        "services" => "an array of {\"name\": string, \"internalPort\": number}",
        "appEnv" => "an object of {\"path\": {\"VAR\": \"value\"}}",
        _ => "another type",
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Evaluate an ES module / CommonJS config with node and return its default export as JSON.
fn eval_js(path: &Path) -> Result<String> {
    if which::which("node").is_err() {
        bail!(
            "{} needs node to be read, and node is not installed: install node, or convert it to session.config.json",
            path.display()
        );
    }
    const SCRIPT: &str = "const {pathToFileURL} = require('url');\
        import(pathToFileURL(process.argv[1]).href).then(m => {\
          const c = (m.default && m.default.default) || m.default || m;\
          process.stdout.write(JSON.stringify(c));\
        }).catch(e => { console.error(String(e && e.message || e)); process.exit(1); });";
    Cmd::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .with_context(|| format!("could not evaluate {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/repo/session.config.json")
    }

    #[test]
    fn parses_every_key() {
        let (c, w) = parse(
            r#"{"projectName":"app","sessionsDir":"../s","composeFiles":["a.yml"],
                "services":[{"name":"web","internalPort":3000}],"apps":["apps"],
                "envFiles":[".env"],"setup":["make"],"appEnv":{"apps/web":{"X":"${APP_PORT}"}}}"#,
            p(),
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(c.project_name.as_deref(), Some("app"));
        assert_eq!(c.services[0].internal_port, 3000);
        assert_eq!(c.app_env["apps/web"]["X"], "${APP_PORT}");
    }

    #[test]
    fn invalid_json_names_file_line_and_column() {
        let err = parse("{\n  \"apps\": [\"a\",]\n}", p())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid JSON in /repo/session.config.json at line 2, column"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_expectation() {
        let err = parse(r#"{"setup": "make"}"#, p()).unwrap_err().to_string();
        assert!(err.contains("`setup`"), "{err}");
        assert!(err.contains("expected an array of strings"), "{err}");
    }

    #[test]
    fn env_paths_must_stay_inside_the_session() {
        for bad in [
            r#"{"envFiles": ["/etc/shared.env"]}"#,
            r#"{"envFiles": ["../x/.env"]}"#,
            r#"{"appEnv": {"../web": {"A": "1"}}}"#,
            r#"{"appEnv": {"/tmp": {"A": "1"}}}"#,
        ] {
            let err = parse(bad, p()).unwrap_err().to_string();
            assert!(err.contains("without `..`"), "{bad}: {err}");
        }
        assert!(parse(r#"{"envFiles": [".env", "apps/web/.env.local"]}"#, p()).is_ok());
    }

    #[test]
    fn unknown_and_obsolete_keys_warn_once_each() {
        let (_, w) = parse(r#"{"portBase": 3000, "ports": {}, "colour": 1}"#, p()).unwrap();
        assert_eq!(w.len(), 3);
        assert!(w[0].contains("colour"));
        assert!(w.iter().any(|m| m.contains("`portBase` is ignored")));
    }

    #[test]
    fn missing_file_is_default() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.path.is_none());
    }
}
