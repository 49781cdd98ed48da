//! `clients`: the client-habit presets (`probe::styles::habit`), every one in a line, or one in full with the
//! user's overrides applied (read from each client's source at a tag; nothing here connects anywhere); and the
//! real libraries: `clients install` puts them in the cache directory, `clients list` shows what is there.

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::{ClientsAction, ClientsArgs};
use crate::drivers::install::{self, Installed};
use crate::drivers::RealClient;
use crate::error::{AppError, AppResult};
use crate::exit::ExitCode;
use crate::output::{self, Report};
use crate::probe::styles::habit::describe::{describe, summary, PresetRow};
use crate::probe::styles::habit::parse::parse_habit;
use crate::probe::styles::habit::presets::ALIASES;

/// Every preset, one row each, and the style names that stand for some of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresetList {
    /// The presets, in listing order.
    pub presets: Vec<PresetRow>,
    /// `[style, preset]`: the emulated styles `--client` takes and the preset each one is.
    pub aliases: Vec<(String, String)>,
}

impl Report for PresetList {
    fn render(&self) -> String {
        let mut t = output::table(&["preset", "refreshes its slot map on", "read from"]);
        for p in &self.presets {
            t.add_row(vec![p.name.clone(), p.triggers.clone(), p.source.clone()]);
        }
        let aliases: Vec<String> = self.aliases.iter().map(|(a, p)| format!("{a} = {p}")).collect();
        format!("{t}\nstyles: {}\n", aliases.join(", "))
    }
}

/// One preset in full.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresetDetail {
    /// What was asked for, e.g. `lettuce@6,periodic=60s`.
    pub spec: String,
    /// `[rule, value]` rows, in order.
    pub rules: Vec<(String, String)>,
}

impl Report for PresetDetail {
    fn render(&self) -> String {
        let mut t = output::table(&["rule", "value"]);
        for (k, v) in &self.rules {
            t.add_row(vec![k.clone(), v.clone()]);
        }
        format!("{t}\n")
    }
}

/// The real libraries installed (`clients list`) or just installed (`clients install`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledList {
    /// One row per install, redis-rs (linked in) first.
    pub installed: Vec<Installed>,
}

impl Report for InstalledList {
    fn render(&self) -> String {
        let mut t = output::table(&["client", "version", "where"]);
        for i in &self.installed {
            t.add_row(vec![format!("real:{}", i.name), i.version.clone(), i.path.clone()]);
        }
        format!("{t}\n")
    }
}

/// Runs `clients`.
pub async fn run(c: &Ctx, args: &ClientsArgs) -> AppResult<ExitCode> {
    match &args.action {
        None => {
            let list = PresetList {
                presets: summary(),
                aliases: ALIASES.iter().map(|(a, p)| (a.to_string(), p.to_string())).collect(),
            };
            Ok(output::emit(c.settings.output, &list))
        }
        Some(ClientsAction::Show { spec }) => {
            let habit = parse_habit(spec).map_err(AppError::BadInput)?;
            Ok(output::emit(c.settings.output, &PresetDetail { spec: spec.clone(), rules: describe(&habit) }))
        }
        Some(ClientsAction::List) => {
            Ok(output::emit(c.settings.output, &InstalledList { installed: install::list()? }))
        }
        Some(ClientsAction::Install { libs }) => {
            // Every name is checked before anything is installed: a typo in the third never costs two installs.
            let mut reals = Vec::new();
            for lib in libs {
                let name = lib.strip_prefix("real:").unwrap_or(lib);
                let real = RealClient::parse(name).map_err(|e| AppError::BadInput(format!("clients install: {e}")))?;
                if real.options.is_some() {
                    return Err(AppError::BadInput(format!(
                        "clients install {lib}: options belong to --client, not to the install"
                    )));
                }
                reals.push(real);
            }
            let mut installed = Vec::new();
            for real in &reals {
                installed.push(install::install(real).await?);
            }
            Ok(output::emit(c.settings.output, &InstalledList { installed }))
        }
    }
}
