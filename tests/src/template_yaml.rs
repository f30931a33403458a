//! `template.yaml` as YAML, for the tests that check its rules, and their failure report.

use conversa_infra::repo_root;
use serde_norway::Value;

/// The template as written (tags such as `!Ref` kept as tagged values).
pub fn template_yaml() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// Fails with every problem found, one a line, rather than the first.
pub fn fail_with(problems: &[String]) {
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}
