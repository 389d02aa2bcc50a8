//! The README tells the truth about the registry, the config format and the systemd unit
//! the package ships, and the manual page about `dyntrayd`'s commands and options.

const README: &str = include_str!("../../../README.md");

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("README lacks {start}"))
        + start.len();
    let to = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("README lacks {end}"));
    text[from..from + to].trim()
}

#[test]
fn provider_table_matches_the_registry() {
    let table = between(README, "<!-- providers:start -->", "<!-- providers:end -->");
    assert_eq!(
        table,
        dyntray_engine::provider::markdown_table().trim(),
        "regenerate it with: dyntrayd providers --markdown"
    );
}

#[test]
fn the_config_example_in_the_readme_is_valid() {
    let example = between(README, "<!-- config:start -->", "<!-- config:end -->");
    let toml = example
        .trim_start_matches("```toml")
        .trim_end_matches("```");
    let config = dyntray_engine::config::Config::parse(toml)
        .unwrap_or_else(|problems| panic!("README config example: {problems:?}"));
    assert!(dyntray_engine::engine::check_against_registry(&config).is_empty());
    assert!(
        config.accounts.iter().any(|a| a.provider == "dyndns2"),
        "the example shows a custom dyndns2 server"
    );
    assert!(
        !config.detect.ipv4.is_empty(),
        "the example shows an address source"
    );
}

/// The unit shown in the README is the one the package installs, word for word.
#[test]
fn the_readme_shows_the_systemd_unit_as_shipped() {
    const UNIT: &str = include_str!("../../../packaging/dyntrayd.service");
    let shown = between(README, "<!-- unit:start -->", "<!-- unit:end -->");
    let shown = shown
        .strip_prefix("```ini")
        .and_then(|s| s.strip_suffix("```"))
        .expect("the unit sits in an ini code block");
    assert_eq!(
        shown.trim(),
        UNIT.trim(),
        "copy packaging/dyntrayd.service into the README"
    );
    assert!(
        UNIT.lines().any(|l| l == "ExecStart=/usr/bin/dyntrayd run"),
        "the unit runs the packaged dyntrayd"
    );
}

/// `dyntrayd --help`'s commands and options, each in the manual page.
#[test]
fn the_manual_page_has_every_command_and_option() {
    const MAN: &str = include_str!("../../../docs/dyntrayd.1");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_dyntrayd"))
        .arg("--help")
        .output()
        .expect("dyntrayd --help runs");
    let help = String::from_utf8(help.stdout).expect("utf-8 help");
    let commands = between(&help, "COMMANDS:", "OPTIONS:");
    // The list ends at its first blank line; a command's line starts at the indent (the
    // first one trimmed), its description's continuations deeper.
    let names: Vec<&str> = commands
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.len() - l.trim_start().len() <= 4)
        .filter_map(|l| l.split("  ").map(str::trim).find(|w| !w.is_empty()))
        .map(|usage| usage.split(['[', '|']).next().unwrap_or(usage).trim())
        .map(|usage| {
            // "secret set ACCOUNT" is named by its lower-case words.
            let words: Vec<&str> = usage
                .split(' ')
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .collect();
            &usage[..words.join(" ").len()]
        })
        .filter(|name| !name.is_empty())
        .collect();
    assert!(names.len() >= 12, "{names:?}");
    for name in names {
        let found = MAN.lines().zip(MAN.lines().skip(1)).any(|(tp, line)| {
            tp == ".TP"
                && line.starts_with(".B")
                && line
                    .split_once(' ')
                    .is_some_and(|(_, rest)| rest.trim_start_matches('"').starts_with(name))
        });
        assert!(found, "the manual page has no entry for `{name}`");
    }
    let options = between(&help, "OPTIONS:", "Logs go to");
    for option in options.split_whitespace().filter(|w| w.starts_with("--")) {
        let option = option.trim_end_matches(',');
        assert!(
            MAN.contains(&option.replace('-', "\\-")),
            "the manual page lacks {option}"
        );
    }
    assert!(MAN.contains(".SH EXIT STATUS"), "exit codes are documented");
}
