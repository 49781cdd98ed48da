//! Named targets from a TOML file: url, mode, user and the *name* of the variable that holds the key.
//! Keys never live in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{AppError, AppResult};
use crate::mode::Mode;

/// The profiles file: `[profiles.NAME]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesFile {
    /// Profiles by name (DEVE, STAG, PROD are just names).
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One named target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// One seed URL.
    pub url: Option<String>,
    /// Several seed URLs.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Connection mode; oss-cluster when absent.
    pub mode: Option<Mode>,
    /// ACL user.
    pub user: Option<String>,
    /// The name of the environment variable that holds the access key.
    pub access_key_env: Option<String>,
}

impl Profile {
    /// Every seed URL of the profile.
    pub fn all_urls(&self) -> Vec<String> {
        self.url.iter().chain(self.urls.iter()).cloned().collect()
    }
}

/// Where a profiles file is looked for when `--profiles-file` is not given.
pub fn default_locations() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("redis-failover-probe.toml")];
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = config_home {
        out.push(dir.join("redis-failover-probe").join("profiles.toml"));
    }
    out
}

/// Parses a profiles file's text; errors name the file, the line and the field.
pub fn parse(path: &Path, text: &str) -> AppResult<ProfilesFile> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().replace('\n', " ");
        match line {
            Some(l) => AppError::BadInput(format!("profiles file {}, line {l}: {message}", path.display())),
            None => AppError::BadInput(format!("profiles file {}: {message}", path.display())),
        }
    })
}

/// Finds profile `name`, in `explicit` or the default locations.
pub fn load(name: &str, explicit: Option<&Path>) -> AppResult<Profile> {
    let candidates = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => default_locations(),
    };
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(AppError::BadInput(format!(
            "unknown profile '{name}': no profiles file found (looked in {})",
            looked.join(", ")
        )));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::BadInput(format!("cannot read profiles file {}: {e}", path.display())))?;
    let file = parse(path, &text)?;
    match file.profiles.get(name) {
        Some(p) if p.all_urls().is_empty() => {
            Err(AppError::BadInput(format!("profiles file {}: profile '{name}' has no url", path.display())))
        }
        Some(p) => Ok(p.clone()),
        None => {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            Err(AppError::BadInput(format!(
                "unknown profile '{name}' in {} (known: {})",
                path.display(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profiles() {
        let text = r#"
[profiles.PROD]
url = "rediss://prod.example.net:10000"
mode = "oss-cluster"
access_key_env = "PROD_KEY"
"#;
        let f = parse(Path::new("p.toml"), text).unwrap();
        let p = &f.profiles["PROD"];
        assert_eq!(p.mode, Some(Mode::OssCluster));
        assert_eq!(p.all_urls(), vec!["rediss://prod.example.net:10000".to_string()]);
        assert_eq!(p.access_key_env.as_deref(), Some("PROD_KEY"));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text = "[profiles.PROD]\nurl = \"redis://x\"\nmode = \"clustered\"\n";
        let err = parse(Path::new("p.toml"), text).unwrap_err().to_string();
        assert!(err.contains("p.toml, line 3"), "{err}");
        assert!(err.contains("clustered"), "{err}");
        let text = "[profiles.PROD]\nurl = \"redis://x\"\npassword = \"nope\"\n";
        let err = parse(Path::new("p.toml"), text).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("password"), "{err}");
    }
}
