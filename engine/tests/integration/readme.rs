//! The README tells the truth about the registry and the config format.

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
