//! POSIX shell quoting: commands sent to nodes are built from quoted arguments, never by pasting
//! user values into shell text.

/// Quotes `s` for a POSIX shell (`'…'`, with `'` written as `'\''`). Plain safe words stay bare.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Joins words into one command line, quoting each.
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_table() {
        let cases = [
            ("abc", "abc"),
            ("/etc/consul.d/svc-x.json", "/etc/consul.d/svc-x.json"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$(rm -rf /)", "'$(rm -rf /)'"),
            ("a;b", "'a;b'"),
            ("*", "'*'"),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "{input:?}");
        }
        assert_eq!(join(["echo", "a b", "c"]), "echo 'a b' c");
    }

    #[test]
    fn quoted_text_round_trips_through_sh() {
        for s in [
            "plain", "a b", "it's", "$HOME", "`id`", "x\ny", "\\", "'\"'",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }
}
