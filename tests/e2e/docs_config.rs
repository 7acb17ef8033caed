//! Docs cannot drift from the code: every ```` ```toml ```` block of `README.md` (and of the
//! adapters' READMEs) and every file in `config/` is run through the real `omnibridge check`,
//! with a dummy value for each env var the block names, and must pass. A block that is
//! deliberately partial or not a bridge config is fenced ```` ```toml-fragment ````: in the SDK
//! README, the table of an outside channel kind (only that kind's own binary can check it) and
//! a Cargo manifest snippet.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```` ```toml ```` blocks of a markdown file, with the line each starts on.
fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    fenced_blocks(markdown, "toml")
}

/// The blocks fenced ```` ```<lang> ```` of a markdown file, with the line each starts on.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let fence = format!("```{lang}");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == fence => current = Some((n + 1, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block");
    blocks
}

/// Every `"UPPER_CASE_NAME"` string of the text: the env vars its `*_env` keys name.
fn env_var_names(toml: &str) -> Vec<String> {
    toml.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.len() > 2
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

fn check(file: &Path, vars: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnibridge"));
    command
        .args(["--config", file.to_str().unwrap(), "check"])
        .env("OMNIBRIDGE__TEMPLATES__DIR", repo().join("templates"))
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("OMNIBRIDGE") && name != "OMNIBRIDGE__TEMPLATES__DIR" {
            command.env_remove(name);
        }
    }
    // Long enough for the challenge-binding secret's minimum.
    for var in vars {
        command.env(var, "dummy-value-for-the-docs-test-0123456789abcdef");
    }
    command.output().unwrap()
}

fn assert_checks(what: &str, toml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("block.toml");
    std::fs::write(&file, toml).unwrap();
    let output = check(&file, &env_var_names(toml));
    assert!(
        output.status.success(),
        "{what} fails `omnibridge check`:\n{}\n--- block ---\n{toml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_toml_block_of_the_readmes_passes_check() {
    let mut readmes = vec![repo().join("README.md")];
    for adapter in std::fs::read_dir(repo().join("adapters")).unwrap() {
        let readme = adapter.unwrap().path().join("README.md");
        if readme.exists() {
            readmes.push(readme);
        }
    }
    let mut checked = 0;
    for readme in &readmes {
        let text = std::fs::read_to_string(readme).unwrap();
        for (line, block) in toml_blocks(&text) {
            assert_checks(&format!("{}:{line}", readme.display()), &block);
            checked += 1;
        }
    }
    // The wallet, WhatsApp and email examples at least.
    assert!(checked >= 3, "only {checked} blocks found");
}

#[test]
fn every_file_in_config_passes_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_checks(&path.display().to_string(), &text);
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} files found");
}

#[test]
fn the_readme_email_block_without_its_secrets_names_each_unset_variable() {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (_, block) = toml_blocks(&text)
        .into_iter()
        .find(|(_, b)| b.contains("type = \"email\""))
        .expect("the email example");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mail.toml");
    std::fs::write(&file, &block).unwrap();
    let output = check(&file, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("OK"));
    for (key, var) in [
        ("channels.acme-mail.imap_password_env", "ACME_IMAP_PASSWORD"),
        ("channels.acme-mail.smtp_password_env", "ACME_SMTP_PASSWORD"),
        (
            "channels.acme-mail.webhook_secret_env",
            "ACME_MAIL_WEBHOOK_SECRET",
        ),
    ] {
        assert!(
            stderr.contains(&format!("{key}: env var {var} is not set")),
            "{stderr}"
        );
    }
}

#[test]
fn the_block_scanner_finds_blocks_and_names() {
    let md = "x\n```toml\na = \"B_C\"\n```\n```toml-fragment\nz = 1\n```\n";
    let blocks = toml_blocks(md);
    assert_eq!(blocks, [(2, "a = \"B_C\"\n".to_owned())]);
    assert_eq!(env_var_names(&blocks[0].1), ["B_C"]);
}

/// The README's desktop-agent config for the stdio command is valid JSON naming this binary's
/// `mcp --url` command and the key variable it reads: run as written (without a key), the
/// command exists and asks for exactly that variable.
#[test]
fn the_readme_mcp_client_config_runs_the_stdio_command_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks: Vec<_> = fenced_blocks(&readme, "json")
        .into_iter()
        .filter(|(_, text)| text.contains("mcpServers"))
        .collect();
    assert_eq!(blocks.len(), 1, "one MCP client config in the README");
    let config: serde_json::Value = serde_json::from_str(&blocks[0].1).unwrap();
    let server = &config["mcpServers"]["omnibridge"];
    assert_eq!(server["command"], "omnibridge");
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..2], ["mcp", "--url"]);
    let env = server["env"].as_object().unwrap();
    assert_eq!(env.keys().collect::<Vec<_>>(), ["OMNIBRIDGE_API_KEY"]);
    let output = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args(&args)
        .env_remove("OMNIBRIDGE_API_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set OMNIBRIDGE_API_KEY"), "{stderr}");
}
