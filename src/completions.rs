//! `netvrrp completions SHELL`: clap_complete's script, with the values clap cannot know
//! statically filled in by the shell at completion time: `--netns` offers the named network
//! namespaces (`ip netns list`), `--interface` the machine's links (/sys/class/net).
//! `autoconfigure --vrrp-version` offers 2 and 3 through clap itself (possible values).
//!
//! clap marks both options `ValueHint::Other` (so no shell offers file names there); the
//! scripts are then patched at the places clap leaves empty. The patches are checked by
//! tests, so a clap_complete update that changes those places fails them instead of
//! silently losing the completion.

use clap::CommandFactory;
use clap_complete::Shell;

/// The script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut raw = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::Cli::command(), "netvrrp", &mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    match shell {
        Shell::Bash => bash(&text),
        Shell::Zsh => zsh(&text),
        Shell::Fish => fish(&text),
        _ => text,
    }
    .into_bytes()
}

const BASH_HELPERS: &str = r#"# Values clap cannot list: named network namespaces and links (netvrrp(8), command completions).
_netvrrp_netns() { ip netns list 2>/dev/null | cut -d' ' -f1; }
_netvrrp_links() { ls /sys/class/net 2>/dev/null; }

"#;

/// clap's bash answer for an option with a free value: the word itself, no space.
fn bash_free_value(option: &str) -> String {
    format!(
        "                {option})\n                    COMPREPLY=(\"${{cur}}\")\n                    if [[ \"${{BASH_VERSINFO[0]}}\" -ge 4 ]]; then\n                        compopt -o nospace\n                    fi\n                    return 0\n                    ;;\n"
    )
}

fn bash_listed(option: &str, lister: &str) -> String {
    format!(
        "                {option})\n                    COMPREPLY=($(compgen -W \"$({lister})\" -- \"${{cur}}\"))\n                    return 0\n                    ;;\n"
    )
}

fn bash(text: &str) -> String {
    let text = text
        .replace(
            &bash_free_value("--netns"),
            &bash_listed("--netns", "_netvrrp_netns"),
        )
        .replace(
            &bash_free_value("--interface"),
            &bash_listed("--interface", "_netvrrp_links"),
        );
    format!("{BASH_HELPERS}{text}")
}

fn zsh(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let line = if line.starts_with("'--netns=[") && line.ends_with(":NAME:' \\") {
            line.replace(":NAME:' \\", ":NAME:_netvrrp_netns' \\")
        } else if line.starts_with("'--interface=[") && line.ends_with(":INTERFACE:' \\") {
            // zsh's own completer of network interfaces.
            line.replace(":INTERFACE:' \\", ":INTERFACE:_net_interfaces' \\")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
        if line == "autoload -U is-at-least" {
            out.push_str(
                "\n# Named network namespaces (netvrrp(8), command completions).\n(( $+functions[_netvrrp_netns] )) ||\n_netvrrp_netns() {\n    local -a names\n    names=(${(f)\"$(ip netns list 2>/dev/null | cut -d' ' -f1)\"})\n    _describe -t netns 'network namespace' names\n}\n",
            );
        }
    }
    out
}

fn fish(text: &str) -> String {
    format!(
        "{text}\n# Values clap cannot list (netvrrp(8), command completions).\ncomplete -c netvrrp -l netns -r -f -a \"(ip netns list 2>/dev/null | string replace -r ' .*' '')\"\ncomplete -c netvrrp -l interface -r -f -a \"(__fish_print_interfaces)\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(shell: Shell) -> String {
        String::from_utf8(script(shell)).expect("UTF-8 script")
    }

    #[test]
    fn bash_lists_namespaces_links_and_versions() {
        let t = text(Shell::Bash);
        assert!(
            !t.contains(&bash_free_value("--netns")),
            "unpatched --netns"
        );
        assert!(!t.contains(&bash_free_value("--interface")));
        // --netns is global: every subcommand's case has it.
        assert!(t.matches(&bash_listed("--netns", "_netvrrp_netns")).count() > 10);
        assert_eq!(
            t.matches(&bash_listed("--interface", "_netvrrp_links"))
                .count(),
            1
        );
        assert!(t.contains("--vrrp-version)"), "{t}");
        assert!(t.contains("compgen -W \"2 3\""), "{t}");
        // The old spelling is accepted but not offered.
        let autoconf = t
            .split("netvrrp__subcmd__autoconfigure)")
            .nth(1)
            .unwrap_or("")
            .split("opts=")
            .nth(1)
            .unwrap_or("");
        let opts = autoconf.lines().next().unwrap_or("");
        assert!(
            opts.contains("--vrrp-version") && !opts.contains(" --version"),
            "{opts}"
        );
    }

    #[test]
    fn zsh_and_fish_complete_namespaces_and_links() {
        let z = text(Shell::Zsh);
        assert!(z.contains("_netvrrp_netns() {"));
        assert!(!z.contains(":NAME:' \\"), "unpatched --netns");
        assert!(z.contains(":NAME:_netvrrp_netns' \\"));
        assert!(z.contains(":INTERFACE:_net_interfaces' \\"));
        assert!(z.contains("(2 3)"));
        let f = text(Shell::Fish);
        assert!(f.contains("-l netns -r -f -a \"(ip netns list"));
        assert!(f.contains("-l interface -r -f -a \"(__fish_print_interfaces)\""));
        assert!(f.contains("-l vrrp-version"));
    }
}
