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

const KNOWN_KEYS: [&str; 13] = [
    "projectName",
    "sessionsDir",
    "composeFiles",
    "services",
    "apps",
    "envFiles",
    "setup",
    "appEnv",
    "overrideFile",
    "envFile",
    "bindAddress",
    "portRange",
    "hooks",
];
/// The keys of `hooks`.
const HOOK_KEYS: [&str; 2] = ["preDestroy", "postStart"];
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
    /// Name of the generated override file (default `docker-compose.session.yml`).
    #[serde(default)]
    pub override_file: Option<String>,
    /// Name of the generated env file (default `.env.session`).
    #[serde(default)]
    pub env_file: Option<String>,
    /// Host address for published ports whose compose entry names none.
    #[serde(default)]
    pub bind_address: Option<String>,
    /// `"40000-40999"`: host ports are chosen from this range (a firewall
    /// rule, a port-forwarding setup); default: any free port.
    #[serde(default)]
    pub port_range: Option<String>,
    /// A `.mjs`/`.js` config of the original tool without `services`: its
    /// defaults apply (`postgres:5432`, `app:3000`, where they exist).
    #[serde(skip)]
    pub original_services: bool,
    /// Lifecycle commands (`postStart`, `preDestroy`).
    #[serde(default)]
    pub hooks: Hooks,
}

/// `hooks`: shell commands run like `setup`, at points of a session's life.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// Run after the ports are (re)discovered by `create` and `start`.
    #[serde(default)]
    pub post_start: Vec<String>,
    /// Run first by `destroy` (recorded at create time in a label); a
    /// failure stops the destroy unless `--force`.
    #[serde(default)]
    pub pre_destroy: Vec<String>,
}

impl Config {
    pub fn override_file(&self) -> &str {
        self.override_file
            .as_deref()
            .unwrap_or(crate::session::OVERRIDE_FILE)
    }

    /// The prefix of the session project names: `projectName`, else the
    /// main worktree's directory name.
    pub fn prefix(&self, main_root: &Path) -> String {
        self.project_name.clone().unwrap_or_else(|| {
            main_root
                .file_name()
                .map_or_else(|| "session".into(), |n| n.to_string_lossy().into_owned())
        })
    }

    /// A warning for each `--without` name that is not one of the apps.
    pub fn unknown_apps(&self, without: &[String]) -> Vec<String> {
        let apps = if self.apps.is_empty() {
            "none".to_string()
        } else {
            self.apps.join(", ")
        };
        without
            .iter()
            .filter(|w| !self.apps.contains(w))
            .map(|w| format!("--without {w}: `{w}` is not one of the config's apps ({apps})"))
            .collect()
    }

    pub fn env_file(&self) -> &str {
        self.env_file.as_deref().unwrap_or(crate::session::ENV_FILE)
    }

    /// Extra `(service, container port)` pairs to publish: `services`, or
    /// the original tool's defaults for those of `existing` services.
    pub fn extra_ports(&self, existing: &[String]) -> Vec<(String, u16)> {
        if self.original_services {
            return [("postgres", 5432), ("app", 3000)]
                .into_iter()
                .filter(|(s, _)| existing.iter().any(|e| e == s))
                .map(|(s, p)| (s.to_string(), p))
                .collect();
        }
        self.services
            .iter()
            .map(|e| (e.name.clone(), e.internal_port))
            .collect()
    }
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
/// the default config. A `.mjs`/`.js` config is repository code: only the
/// commands that start the stack (`create`, `start`) evaluate it.
pub fn load(root: &Path) -> Result<Loaded> {
    let Some(path) = find(root) else {
        return Ok(Loaded::default());
    };
    let text = if is_script(&path) {
        eval_js(&path)?
    } else {
        std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?
    };
    let (mut config, warnings) = parse(&text, &path)?;
    config.original_services = is_script(&path)
        && serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("services").is_none());
    Ok(Loaded {
        config,
        path: Some(path),
        warnings,
    })
}

/// Load the config without running repository code: a JSON config is read;
/// a `.mjs`/`.js` one is not evaluated (`Err` carries its path).
pub fn load_without_code(root: &Path) -> Result<std::result::Result<Loaded, PathBuf>> {
    match find(root) {
        Some(path) if is_script(&path) => Ok(Err(path)),
        _ => load(root).map(Ok),
    }
}

/// The config file of `root`, if there is one.
pub fn find(root: &Path) -> Option<PathBuf> {
    CONFIG_FILES
        .iter()
        .map(|n| root.join(n))
        .find(|p| p.is_file())
}

fn is_script(path: &Path) -> bool {
    !path.to_string_lossy().ends_with(".json")
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
    if let Some(hooks) = map.get("hooks").and_then(|h| h.as_object()) {
        for key in hooks.keys().filter(|k| !HOOK_KEYS.contains(&k.as_str())) {
            warnings.push(format!(
                "{}: unknown key `hooks.{key}` is ignored (known: {})",
                path.display(),
                HOOK_KEYS.join(", ")
            ));
        }
    }
    let config: Config = serde_json::from_value(value)
        .with_context(|| format!("invalid config in {}", path.display()))?;
    for f in &config.env_files {
        require_inside(path, "envFiles", f)?;
    }
    for (dir, vars) in &config.app_env {
        require_inside(path, "appEnv", dir)?;
        for key in vars.keys() {
            if !is_var_name(key) {
                bail!(
                    "{}: `appEnv` entry `{dir}` has the key {key:?}, which is not a variable name (letters, digits and `_`, not starting with a digit)",
                    path.display()
                );
            }
        }
    }
    if let Some(name) = &config.project_name {
        require_name(path, "projectName", name)?;
    }
    if let Some(range) = &config.port_range {
        if crate::ports::parse_range(range).is_none() {
            bail!(
                "{}: `portRange` must look like \"40000-40999\" (two ports, low first), got {range:?}",
                path.display()
            );
        }
    }
    for (key, value) in [
        ("overrideFile", &config.override_file),
        ("envFile", &config.env_file),
    ] {
        if let Some(v) = value {
            require_name(path, key, v)?;
        }
    }
    Ok((config, warnings))
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name a dotenv file and a shell accept.
pub fn is_var_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A plain name: not empty, no `/`, not `.` or `..`, no control characters.
fn require_name(path: &Path, key: &str, value: &str) -> Result<()> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.contains('/')
        || value.chars().any(char::is_control);
    if bad {
        bail!(
            "{}: `{key}` must be a name, not a path (got {value:?})",
            path.display()
        );
    }
    Ok(())
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
        "projectName" | "sessionsDir" | "overrideFile" | "envFile" | "bindAddress" => "a string",
        "portRange" => "a string like \"40000-40999\"",
        "composeFiles" | "apps" | "envFiles" | "setup" => "an array of strings",
        "services" => "an array of {\"name\": string, \"internalPort\": number}",
        "appEnv" => "an object of {\"path\": {\"VAR\": \"value\"}}",
        "hooks" => "an object of {\"postStart\": [commands], \"preDestroy\": [commands]}",
        _ => "another type",
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Marks the line with the config in node's output (the config itself may
/// print to stdout).
const SENTINEL: &str = "\u{1}dev-prism-config\u{1}";

/// How long evaluating a `.mjs` config may take: `DEV_PRISM_CONFIG_TIMEOUT`
/// seconds, default 10.
fn eval_deadline() -> std::time::Duration {
    crate::process::seconds_from_env("DEV_PRISM_CONFIG_TIMEOUT", 10)
}

/// Evaluate an ES module / CommonJS config with node and return its default
/// export as JSON.
fn eval_js(path: &Path) -> Result<String> {
    if which::which("node").is_err() {
        bail!(
            "{} needs node to be read, and node is not installed: install node, or convert it to session.config.json",
            path.display()
        );
    }
    const SCRIPT: &str =
        "for (const k of ['log', 'info', 'debug', 'warn']) console[k] = console.error;\
        const {pathToFileURL} = require('url');\
        import(pathToFileURL(process.argv[1]).href).then(m => {\
          const c = (m.default && m.default.default) || m.default || m;\
          process.stdout.write('\\n' + process.argv[2] + JSON.stringify(c) + '\\n');\
        }).catch(e => { console.error(String(e && e.message || e)); process.exit(1); });";
    let deadline = eval_deadline();
    let dir = path.parent().unwrap_or(Path::new("."));
    let out = Cmd::new("node")
        .arg("-e")
        .arg(SCRIPT)
        .arg(path)
        .arg(SENTINEL)
        .cwd(dir)
        .deadline(deadline)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.timed_out() => bail!(
            "{} did not finish within {}s: a session config must export its settings without waiting (set DEV_PRISM_CONFIG_TIMEOUT to allow longer)",
            path.display(),
            deadline.as_secs_f64().round()
        ),
        Err(e) if e.interrupted() => return Err(crate::interrupt::error("interrupted")),
        Err(e) if e.exit_code.is_some() => {
            let why = e
                .stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("node failed")
                .to_string();
            bail!("could not evaluate {}: {why}", path.display());
        }
        Err(e) => return Err(e.into()),
    };
    match out.rsplit_once(SENTINEL) {
        Some((_, json)) => Ok(json.trim().to_string()),
        None => bail!(
            "{} did not produce a config: its default export never resolved",
            path.display()
        ),
    }
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
    fn names_and_variable_keys_are_checked() {
        for bad in [
            r#"{"appEnv": {"web": {"A\nB": "1"}}}"#,
            r#"{"appEnv": {"web": {"1A": "1"}}}"#,
            r#"{"appEnv": {"web": {"A-B": "1"}}}"#,
        ] {
            let err = parse(bad, p()).unwrap_err().to_string();
            assert!(err.contains("not a variable name"), "{bad}: {err}");
        }
        for bad in [
            r#"{"projectName": "../x"}"#,
            r#"{"projectName": ""}"#,
            r#"{"overrideFile": "a/b.yml"}"#,
            r#"{"envFile": ".."}"#,
        ] {
            let err = parse(bad, p()).unwrap_err().to_string();
            assert!(err.contains("must be a name"), "{bad}: {err}");
        }
        let (c, _) = parse(
            r#"{"appEnv": {"web": {"_A1": "x"}}, "overrideFile": "dp.yml"}"#,
            p(),
        )
        .unwrap();
        assert_eq!(c.override_file(), "dp.yml");
        assert_eq!(c.env_file(), ".env.session");
    }

    #[test]
    fn unknown_and_obsolete_keys_warn_once_each() {
        let (_, w) = parse(r#"{"portBase": 3000, "ports": {}, "colour": 1}"#, p()).unwrap();
        assert_eq!(w.len(), 3);
        assert!(w[0].contains("colour"));
        assert!(w.iter().any(|m| m.contains("`portBase` is ignored")));
    }

    #[test]
    fn hooks_are_read_and_checked() {
        let (c, w) = parse(
            r#"{"hooks": {"postStart": ["echo up"], "preDestroy": ["pg_dump > x"], "preStart": []}}"#,
            p(),
        )
        .unwrap();
        assert_eq!(c.hooks.post_start, vec!["echo up"]);
        assert_eq!(c.hooks.pre_destroy, vec!["pg_dump > x"]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("`hooks.preStart`"), "{w:?}");
        let err = parse(r#"{"hooks": {"postStart": "echo"}}"#, p())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`hooks`") && err.contains("postStart"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_default() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.path.is_none());
    }
}
