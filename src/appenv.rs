//! Pure: `appEnv` templates (`${VAR}` substitution) and the `DATABASE_URL`
//! rewrite of copied env files.

use crate::envfile;

/// Replace `${VAR}` with the session's value. Unknown variables are left as
/// they are and returned, so the caller can warn about them.
pub fn substitute(template: &str, env: &[(String, String)]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return (out, unknown);
        };
        let name = &after[..end];
        match env.iter().find(|(k, _)| k == name) {
            Some((_, v)) => out.push_str(v),
            None => {
                unknown.push(name.to_string());
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, unknown)
}

/// Rewrite every `DATABASE_URL=` line (also `export DATABASE_URL=`) to `url`;
/// every other line is kept byte for byte. `None` when there is no such line.
pub fn rewrite_database_url(text: &str, url: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let trimmed = body.trim_start();
        let (export, rest) = match trimmed.strip_prefix("export ") {
            Some(r) => ("export ", r.trim_start()),
            None => ("", trimmed),
        };
        // Only a postgres URL (or an empty one) is the session database's:
        // a `mysql://…` URL points at something else and is kept.
        let is_db = rest
            .strip_prefix("DATABASE_URL")
            .and_then(|r| r.trim_start().strip_prefix('='))
            .is_some_and(|value| {
                let v = value.trim().trim_matches(['"', '\'']);
                v.is_empty() || v.starts_with("postgres://") || v.starts_with("postgresql://")
            });
        if is_db {
            out.push_str(&format!(
                "{export}DATABASE_URL={}{ending}",
                envfile::quote(url)
            ));
            changed = true;
        } else {
            out.push_str(line);
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("APP_PORT".into(), "32768".into()),
            ("DB_PORT".into(), "32769".into()),
        ]
    }

    #[test]
    fn substitutes_known_and_reports_unknown() {
        let (s, unknown) = substitute(
            "http://localhost:${APP_PORT}/api?db=${DB_PORT}&x=${NOPE}",
            &env(),
        );
        assert_eq!(s, "http://localhost:32768/api?db=32769&x=${NOPE}");
        assert_eq!(unknown, vec!["NOPE"]);
        assert_eq!(
            substitute("no vars, $APP_PORT ${unclosed", &env()).0,
            "no vars, $APP_PORT ${unclosed"
        );
    }

    #[test]
    fn rewrites_only_database_url_lines() {
        let text = "# db\nDATABASE_URL=postgres://localhost:5432/app\nOTHER=1\r\nexport DATABASE_URL = \"postgres://old/db\"\nDATABASE_URL_RO=keep\n";
        let out = rewrite_database_url(text, "postgresql://u:p@localhost:40000/app").unwrap();
        assert_eq!(
            out,
            "# db\nDATABASE_URL=postgresql://u:p@localhost:40000/app\nOTHER=1\r\nexport DATABASE_URL=postgresql://u:p@localhost:40000/app\nDATABASE_URL_RO=keep\n"
        );
        assert_eq!(rewrite_database_url("A=1\n", "x"), None);
        assert_eq!(
            rewrite_database_url("DATABASE_URL=mysql://db/app\n", "x"),
            None
        );
        assert_eq!(
            rewrite_database_url("DATABASE_URL=\n", "x").as_deref(),
            Some("DATABASE_URL=x\n")
        );
    }
}
