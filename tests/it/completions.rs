//! `bulk-reply completions` and `bulk-reply man`: the script each shell sources, checked by
//! calling bash's completion function as `complete -F` would, and the manual page.

use assert_cmd::Command;
use predicates::str::contains;

/// What bash offers for the word being typed, by sourcing the generated script and calling
/// its completion function as bash's `complete -F` would.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bulk-reply.bash");
    let generated = Command::cargo_bin("bulk-reply")
        .unwrap()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    std::fs::write(&script, generated.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words.last().unwrap();
    let previous = words[words.len() - 2];
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _bulk__reply bulk-reply '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
    );
    let output = std::process::Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_a_subcommands_options_and_values() {
    assert_eq!(
        bash_completes(&["bulk-reply", "send", "--dea"]),
        ["--deadline"]
    );
    assert_eq!(
        bash_completes(&["bulk-reply", "send", "--in-doubt", ""]),
        ["resend", "hold"]
    );
    assert!(bash_completes(&["bulk-reply", "se"]).contains(&"send".to_string()));
}

#[test]
fn completions_and_the_manual_page_are_generated() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef bulk-reply"),
        ("fish", "complete -c bulk-reply"),
    ] {
        Command::cargo_bin("bulk-reply")
            .unwrap()
            .args(["completions", shell])
            .assert()
            .code(0)
            .stdout(contains(marker))
            .stdout(contains("summary-json"));
    }
    Command::cargo_bin("bulk-reply")
        .unwrap()
        .args(["completions", "powershell"])
        .assert()
        .code(2);
    Command::cargo_bin("bulk-reply")
        .unwrap()
        .arg("man")
        .assert()
        .code(0)
        .stdout(contains(".TH bulk-reply 1"))
        .stdout(contains("BULK-REPLY SEND"))
        .stdout(contains("MKP_BASE_URL"));
}
