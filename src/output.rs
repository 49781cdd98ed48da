//! Writing to stdout: one JSON document or tables, a broken pipe ending quietly, secrets scrubbed.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use crate::exit::ExitCode;

/// How probe results and inspection reports are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Tables and live progress for people.
    #[default]
    Table,
    /// One JSON document on stdout and nothing else there.
    Json,
}

/// Writes text to stdout. A closed pipe (`| head`) ends the process quietly with success.
pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Writes one line to stdout.
pub fn println(text: &str) {
    write_stdout(&format!("{}\n", crate::secret::scrub(text)));
}

/// Serialises a value as pretty JSON with every secret masked.
pub fn to_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    crate::secret::scrub(&text)
}

/// Whether stdout is a terminal (live views and UTF-8 tables) or a file/pipe (plain lines).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// A table in the house style: UTF-8 borders on a terminal, ASCII in files and logs.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    if stdout_is_terminal() {
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        // A terminal that reports no width (a pty nobody sized, as `script` or some CI runners make) would squeeze
        // every column to one character; then the table keeps its natural width.
        if t.width().is_some_and(|w| w > 0) {
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
    } else {
        t.load_preset(presets::ASCII_FULL_CONDENSED);
    }
    t.set_header(header.iter().copied());
    t
}

/// A report a subcommand hands to the writer: JSON as is, or rendered as tables.
pub trait Report: Serialize {
    /// The human form.
    fn render(&self) -> String;
    /// The exit code the report implies (a failed check is 1).
    fn exit_code(&self) -> ExitCode {
        ExitCode::Ok
    }
}

/// Prints a report in the chosen format and returns its exit code.
pub fn emit<R: Report>(format: OutputFormat, report: &R) -> ExitCode {
    match format {
        OutputFormat::Json => println(&to_json(report)),
        OutputFormat::Table => println(report.render().trim_end()),
    }
    report.exit_code()
}
