//! Shared file probing and atomic writing, in POSIX shell (coreutils `stat`, `sha256sum`).
//!
//! - [`probe_script`] / [`FileState::parse`]: what a path is now (one round trip): type, mode,
//!   owner, group, size, SHA-256 and, for `--diff`, the old content of small text files.
//! - [`write_script`]: write stdin to a temp file in the target directory, set mode and owner
//!   (keeping the existing file's when not given), then `mv` it over the target — an interrupted
//!   run never leaves a half-written file.
//! - [`attrs_script`]: change only mode/owner/group.
//!
//! Scripts are built with [`quote`]; requests carry no `become` (the engine applies the task's).

use drover_connection::shell::quote;
use sha2::{Digest, Sha256};

use crate::params::Mode;
use crate::payload::Payload;
use crate::{ModuleError, Request};

/// Old contents larger than this are not fetched for diffs.
pub const MAX_DIFF_BYTES: u64 = 256 * 1024;

/// The first line of every probe whose output drover parses: the C locale. Output that does
/// not depend on the locale gets cheaper (each process of a probe would otherwise load the
/// node's locale files, e.g. `C.UTF-8` forwarded by ssh) and messages parse the same
/// everywhere. User commands keep the node's locale.
pub const C_LOCALE: &str = "LC_ALL=C; export LC_ALL\n";

/// Marker line before the content in probe output.
pub(crate) const CONTENT_MARKER: &str = "--drover-content--";

/// The type of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Nothing there.
    Absent,
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Link,
    /// A device, socket or fifo.
    Other,
}

impl FileKind {
    /// Ansible's `state` word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Absent => "absent",
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Link => "link",
            FileKind::Other => "other",
        }
    }
}

/// What a path is on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// Type (absent when missing).
    pub kind: FileKind,
    /// Permission bits.
    pub mode: Option<Mode>,
    /// Owner name.
    pub owner: Option<String>,
    /// Group name.
    pub group: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of a regular file's content (hex).
    pub sha256: Option<String>,
    /// A link's target.
    pub link_target: Option<String>,
    /// The content, when asked for and small enough.
    pub content: Option<Vec<u8>>,
}

/// The probe script for `path`; with `want_content`, also prints a regular file's content when
/// it is at most [`MAX_DIFF_BYTES`].
pub fn probe_script(path: &str, want_content: bool) -> Request {
    probe(path, want_content, None)
}

/// [`probe_script`] for a file that should hold `expected` (`copy`, `template`). A small text
/// `expected` (see [`INLINE_COMPARE_MAX`]) is compared with the file in the shell, and when
/// they are equal the probe prints `expected`'s SHA-256 without running `sha256sum` (one
/// process less per no-op task); otherwise it hashes the file as [`probe_script`] does, but
/// only when its size is `expected`'s (a file of another size differs without one). The output
/// has the same shape either way (no `sha256=` line for a file of another size).
pub fn probe_script_expecting(path: &str, want_content: bool, expected: &Payload) -> Request {
    probe(path, want_content, Some(expected))
}

/// The largest `expected` content [`probe_script_expecting`] compares in the shell. The shell's
/// `read` takes a byte per system call (about 1 ms per KiB on a slow node, half of what a
/// `sha256sum` process costs there), so larger files are hashed.
pub const INLINE_COMPARE_MAX: usize = 1024;

/// Whether `expected` can be compared in the shell: small, and only tabs, newlines and
/// printable ASCII, so the shell's `read` returns the file's bytes unchanged when they are
/// equal (it drops NUL bytes, and other bytes never turn into printable ASCII ones; the size
/// check catches a dropped NUL).
fn inline_comparable(expected: &Payload) -> Option<&[u8]> {
    let expected = expected.in_memory()?;
    inline_text(expected).then_some(expected)
}

fn inline_text(expected: &[u8]) -> bool {
    expected.len() <= INLINE_COMPARE_MAX
        && expected
            .iter()
            .all(|&b| b == b'\t' || b == b'\n' || (0x20..0x7f).contains(&b))
}

fn probe(path: &str, want_content: bool, expected: Option<&Payload>) -> Request {
    let mut s = format!(
        "{C_LOCALE}p={p}\n\
         if [ -L \"$p\" ]; then t=link; elif [ -d \"$p\" ]; then t=directory; \
         elif [ -f \"$p\" ]; then t=file; elif [ -e \"$p\" ]; then t=other; \
         else echo state=absent; exit 0; fi\n\
         echo \"state=$t\"\n\
         i=$(stat -c 'mode=%a\nowner=%U\ngroup=%G\nsize=%s' -- \"$p\") && printf '%s\\n' \"$i\"\n\
         if [ \"$t\" = link ]; then printf 'target=%s\\n' \"$(readlink -- \"$p\")\"; fi\n",
        p = quote(path)
    );
    match expected.and_then(inline_comparable) {
        // Same size (from the `stat` above), then the same bytes: `read -r` with an empty IFS
        // keeps every byte but NUL and the newline it stops at; a last line without a newline
        // is left in `$l`. A file this user cannot read goes to `sha256sum`, as before.
        Some(expected) => s.push_str(&format!(
            "if [ \"$t\" = file ]; then s256=\n\
             if [ \"${{i##*size=}}\" = {len} ] && [ -r \"$p\" ]; then c= l=\n\
             while IFS= read -r l; do c=\"$c$l\n\"; done <\"$p\"\n\
             [ \"$c$l\" = {want} ] && s256={hash}\n\
             fi\n\
             [ -n \"$s256\" ] || s256=$(sha256sum <\"$p\")\n\
             printf 'sha256=%s\\n' \"${{s256%% *}}\"; fi\n",
            len = expected.len(),
            want = quote(&String::from_utf8_lossy(expected)),
            hash = sha256_hex(expected),
        )),
        None if let Some(expected) = expected
            && expected.len() >= NODE_SUM_CACHE_MIN =>
        {
            s.push_str(&format!(
                "if [ \"$t\" = file ] && [ \"${{i##*size=}}\" = {len} ]; then\n{}fi\n",
                cached_sha256(),
                len = expected.len()
            ));
        }
        None if let Some(expected) = expected => s.push_str(&format!(
            "if [ \"$t\" = file ] && [ \"${{i##*size=}}\" = {len} ]; then s256=$(sha256sum <\"$p\"); printf 'sha256=%s\\n' \"${{s256%% *}}\"; fi\n",
            len = expected.len()
        )),
        None => s.push_str(
            "if [ \"$t\" = file ]; then s256=$(sha256sum <\"$p\"); printf 'sha256=%s\\n' \"${s256%% *}\"; fi\n",
        ),
    }
    if want_content {
        s.push_str(&content_lines());
    }
    Request::new(s)
}

/// The size from which a node keeps the SHA-256 of a file it compared ([`cached_sha256`]).
pub const NODE_SUM_CACHE_MIN: u64 = 1024 * 1024;

/// Shell lines printing `sha256=<hex>` for the regular file `"$p"`, from the node's hash cache
/// when the file has not changed since it was hashed, else by `sha256sum` (and then kept).
///
/// The cache is one small file per inode in `$HOME/.cache/drover/sha256/` of the user the
/// probe runs as (root's for `become`): the file's identity and change stamps (device, inode,
/// size, modification and change times to the nanosecond) on the first line, its SHA-256 on
/// the second. Any write to a file moves its change time (which no one can set back) or, for
/// an atomic replace, gives it a new inode, so a stamp that still matches means the same
/// bytes. A file changed within the last two seconds is not kept (a later write in the same
/// clock tick would not move its stamps). A cache that cannot be read or written costs a hash,
/// never a wrong answer; one that is not the user's own (or is a symlink) is not used, and
/// without `$HOME` there is none. Like the run lock, it is drover's own bookkeeping on the
/// node: it is kept in check mode too. (On NFS, `stat` may show attributes cached for up to
/// `acregmax`: a file another client changed within that time may be taken as unchanged.)
pub(crate) fn cached_sha256() -> String {
    // `$d` and `$f` are used only when they are this user's own and not symlinks: a cache
    // another user can write to is never believed nor written through
    "s256= k=$(stat -c '%d-%i %s %.9Y %.9Z' -- \"$p\" 2>/dev/null) d= f=\n\
     if [ -n \"${HOME:-}\" ] && [ -n \"$k\" ]; then d=\"$HOME/.cache/drover/sha256\" f=\"$d/${k%% *}\"; fi\n\
     if [ -n \"$d\" ] && [ -O \"$d\" ] && [ ! -L \"$d\" ] && [ -f \"$f\" ] && [ ! -L \"$f\" ] && [ -O \"$f\" ]; then\n\
     ck= cs=; { IFS= read -r ck; IFS= read -r cs; } <\"$f\"\n\
     [ \"$ck\" = \"$k\" ] && [ ${#cs} = 64 ] && s256=$cs; fi\n\
     if [ -z \"$s256\" ]; then s256=$(sha256sum <\"$p\"); s256=${s256%% *}\n\
     m=${k#* * }; c=${m#* }; m=${m%%.*}; c=${c%%.*}; n=$(date +%s)\n\
     if [ -n \"$d\" ] && [ \"$m\" -lt $((n - 2)) ] 2>/dev/null && [ \"$c\" -lt $((n - 2)) ] 2>/dev/null &&\n\
     mkdir -p -m 700 \"$d\" 2>/dev/null && [ -O \"$d\" ] && [ ! -L \"$d\" ]; then\n\
     { (set -C; printf '%s\\n%s\\n' \"$k\" \"$s256\" >\"$f.$$\") && mv -f \"$f.$$\" \"$f\"; } 2>/dev/null; fi; fi\n\
     printf 'sha256=%s\\n' \"$s256\"\n"
        .to_string()
}

/// Shell lines printing the content of the regular file `"$p"` (type in `$t`, `stat` output
/// ending with `size=N` in `$i`) after the content marker, when it is at most
/// [`MAX_DIFF_BYTES`] (one `cat`, no second `stat`).
pub(crate) fn content_lines() -> String {
    format!(
        "if [ \"$t\" = file ] && [ \"${{i##*size=}}\" -le {MAX_DIFF_BYTES} ]; then echo {CONTENT_MARKER}; cat -- \"$p\"; fi\n"
    )
}

impl FileState {
    /// Parses [`probe_script`] output.
    pub fn parse(stdout: &[u8]) -> Result<FileState, ModuleError> {
        let (head, content) = match find(stdout, format!("{CONTENT_MARKER}\n").as_bytes()) {
            Some(at) => {
                let content = &stdout[at + CONTENT_MARKER.len() + 1..];
                // More than the limit (the file grew after its stat): as if not fetched.
                let small = content.len() as u64 <= MAX_DIFF_BYTES;
                (&stdout[..at], small.then(|| content.to_vec()))
            }
            None => (stdout, None),
        };
        let head = String::from_utf8_lossy(head);
        let mut state = FileState {
            kind: FileKind::Absent,
            mode: None,
            owner: None,
            group: None,
            size: None,
            sha256: None,
            link_target: None,
            content,
        };
        let mut seen_state = false;
        for line in head.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "state" => {
                    seen_state = true;
                    state.kind = match value {
                        "absent" => FileKind::Absent,
                        "file" => FileKind::File,
                        "directory" => FileKind::Directory,
                        "link" => FileKind::Link,
                        _ => FileKind::Other,
                    };
                }
                "mode" => {
                    state.mode = Some(Mode(u32::from_str_radix(value, 8).map_err(|_| {
                        ModuleError::node(format!("unexpected mode `{value}` from stat"))
                    })?));
                }
                "owner" => state.owner = Some(value.to_string()),
                "group" => state.group = Some(value.to_string()),
                "size" => state.size = value.parse().ok(),
                "sha256" => state.sha256 = Some(value.to_string()),
                "target" => state.link_target = Some(value.to_string()),
                _ => {}
            }
        }
        if !seen_state {
            return Err(ModuleError::node(format!(
                "unexpected probe output (is this a POSIX shell with coreutils?): {}",
                head.chars().take(200).collect::<String>()
            )));
        }
        Ok(state)
    }

    /// The content as text for diffs (`None` when not fetched or not UTF-8).
    pub fn text(&self) -> Option<String> {
        self.content
            .as_ref()
            .and_then(|c| String::from_utf8(c.clone()).ok())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The hex SHA-256 of bytes (compared with the node's before any upload).
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Owner, group and mode to set on a file (`None` keeps the existing file's, or the defaults
/// for a new one: the remote user's, and `0666 & ~umask`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Owner name or uid.
    pub owner: Option<String>,
    /// Group name or gid.
    pub group: Option<String>,
    /// Mode.
    pub mode: Option<Mode>,
}

impl Attrs {
    /// What differs between these wanted attributes and a file's state.
    pub fn differences(&self, state: &FileState) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(mode) = self.mode
            && state.mode != Some(mode)
        {
            out.push(format!(
                "mode {} → {mode}",
                state.mode.map_or("none".into(), |m| m.to_string())
            ));
        }
        if let Some(owner) = &self.owner
            && state.owner.as_deref() != Some(owner)
        {
            out.push(format!(
                "owner {} → {owner}",
                state.owner.as_deref().unwrap_or("none")
            ));
        }
        if let Some(group) = &self.group
            && state.group.as_deref() != Some(group)
        {
            out.push(format!(
                "group {} → {group}",
                state.group.as_deref().unwrap_or("none")
            ));
        }
        out
    }

    fn apply_lines(&self, target: &str) -> String {
        let mut s = String::new();
        if let Some(mode) = self.mode {
            s.push_str(&format!("chmod {mode} -- {target}\n"));
        }
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => {
                s.push_str(&format!("chown -- {}:{} {target}\n", quote(o), quote(g)))
            }
            (Some(o), None) => s.push_str(&format!("chown -- {} {target}\n", quote(o))),
            (None, Some(g)) => s.push_str(&format!("chgrp -- {} {target}\n", quote(g))),
            (None, None) => {}
        }
        s
    }
}

/// How to write a file.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Owner, group, mode.
    pub attrs: Attrs,
    /// Copy an existing file to `dest.<pid>.<time>~` first (Ansible's name); prints `backup=<path>`.
    pub backup: bool,
    /// Ansible's `validate`: a command run on the temp file (`%s`) before it replaces `dest`;
    /// on failure the target is untouched and the script exits with the command's status.
    pub validate: Option<String>,
}

/// Shell lines that copy stdin into the file `$t` and stop the script (exit 1, with a message
/// on stderr) unless exactly `len` bytes arrived. A controller that dies mid-upload closes the
/// channel, which the node reads as the end of the file: without this check the truncated
/// file would be installed. The caller's `trap` removes `$t`.
pub fn receive(len: u64) -> String {
    format!(
        "cat > \"$t\" || exit 1\n\
         n=$(( $(wc -c < \"$t\") ))\n\
         if [ \"$n\" -ne {len} ]; then echo \"drover: incomplete upload: $n of {len} bytes arrived; nothing was changed\" >&2; exit 1; fi\n"
    )
}

/// Writes `content` to `dest` atomically (stdin → temp file in the same directory, checked to
/// be complete ([`receive`]) → attributes → validate → rename).
pub fn write_script(dest: &str, options: &WriteOptions, content: &Payload) -> Request {
    let attrs = &options.attrs;
    // The temp file is mktemp's 0600 until its mode is set. With a mode given (always absolute
    // here), it goes from 0600 straight to that mode: a file made private (0640, 0600) is never
    // readable by others, not even for a moment. Without one it takes the old file's mode, or
    // the umask's for a new file.
    let (keep_mode, new_mode) = if attrs.mode.is_some() {
        ("", "")
    } else {
        (
            "chmod --reference=\"$d\" -- \"$t\"; ",
            "chmod \"$(printf '%o' $(( 0666 & ~0$(umask) )))\" -- \"$t\"; ",
        )
    };
    let mut s = format!(
        "set -e\nd={d}\nt=$(mktemp -- \"$(dirname -- \"$d\")/.drover.XXXXXXXX\")\n\
         trap 'rm -f -- \"$t\"' EXIT\n{receive}\
         if [ -e \"$d\" ]; then {keep_mode}chown --reference=\"$d\" -- \"$t\" 2>/dev/null || true; \
         else {new_mode}:; fi\n",
        d = quote(dest),
        receive = receive(content.len()),
    );
    s.push_str(&attrs.apply_lines("\"$t\""));
    if let Some(validate) = &options.validate {
        s.push_str(&format!(
            "set +e\n{}\nrc=$?\nset -e\nif [ $rc -ne 0 ]; then printf 'validation failed: %s\\n' {} >&2; exit $rc; fi\n",
            validate_command(validate, "\"$t\""),
            quote(validate)
        ));
    }
    if options.backup {
        s.push_str(
            "if [ -e \"$d\" ]; then b=\"$d.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$d\" \"$b\"; echo \"backup=$b\"; fi\n",
        );
    }
    s.push_str("mv -f -- \"$t\" \"$d\"\ntrap - EXIT\n");
    Request::new(s).with_stdin_from(content.stdin())
}

/// A `validate` command as Ansible runs it: split like a shell would (`shlex`), then run without
/// a shell, with `%s` replaced by `temp` (a shell word, e.g. `"$t"`). Every word is quoted, so
/// pipes, `$VAR` or `;` in the string are literal arguments, as in Ansible. A string that cannot
/// be split (an unclosed quote) is refused earlier by [`validate_words`].
pub fn validate_command(validate: &str, temp: &str) -> String {
    const TEMP: &str = "\u{1}drover-temp\u{1}";
    let words = validate_words(&validate.replace("%s", TEMP)).unwrap_or_default();
    words
        .iter()
        .map(|word| word.split(TEMP).map(quote).collect::<Vec<_>>().join(temp))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a `validate` command (Python's `shlex.split`), or why it cannot be split.
pub fn validate_words(validate: &str) -> Result<Vec<String>, String> {
    drover_python::shlex_split(validate, false).map_err(|e| e.to_string())
}

/// Sets only mode/owner/group of an existing path.
pub fn attrs_script(path: &str, attrs: &Attrs) -> Request {
    Request::new(format!(
        "set -e\np={}\n{}",
        quote(path),
        attrs.apply_lines("\"$p\"")
    ))
}

#[cfg(test)]
mod tests {

    /// A private file never passes through a wider mode: with a mode given, the temp file goes
    /// from mktemp's 0600 straight to it (no chmod from the old file or the umask first).
    #[test]
    fn a_given_mode_is_the_only_chmod() {
        let private = WriteOptions {
            attrs: Attrs {
                mode: Some(Mode(0o640)),
                ..Attrs::default()
            },
            ..WriteOptions::default()
        };
        let script = write_script("/etc/x.json", &private, &Payload::bytes(b"s\n".to_vec())).script;
        let chmods: Vec<&str> = script.lines().filter(|l| l.contains("chmod")).collect();
        assert_eq!(chmods, ["chmod 0640 -- \"$t\""], "{script}");
        // without a mode: the old file's, or the umask's for a new one
        let script = write_script(
            "/etc/x.json",
            &WriteOptions::default(),
            &Payload::bytes(b"s\n".to_vec()),
        )
        .script;
        assert!(script.contains("chmod --reference="), "{script}");
        assert!(script.contains("umask"), "{script}");
    }
    use super::*;
    use drover_connection::LocalConnection;

    #[test]
    fn parses_probe_output() {
        let out = b"state=file\nmode=644\nowner=root\ngroup=consul\nsize=3\nsha256=abc\n--drover-content--\nhi\n";
        let s = FileState::parse(out).unwrap();
        assert_eq!(s.kind, FileKind::File);
        assert_eq!(s.mode, Some(Mode(0o644)));
        assert_eq!(s.group.as_deref(), Some("consul"));
        assert_eq!(s.text().as_deref(), Some("hi\n"));
        assert_eq!(
            FileState::parse(b"state=absent\n").unwrap().kind,
            FileKind::Absent
        );
        assert!(FileState::parse(b"sh: stat: not found\n").is_err());
    }

    #[test]
    fn attribute_differences() {
        let s = FileState::parse(b"state=file\nmode=600\nowner=root\ngroup=root\n").unwrap();
        let want = Attrs {
            owner: Some("root".into()),
            group: Some("consul".into()),
            mode: Some(Mode(0o640)),
        };
        assert_eq!(
            want.differences(&s),
            ["mode 0600 → 0640", "group root → consul"]
        );
    }

    /// Runs `script` with `shell -c`, with `bin` first in PATH.
    fn run_in(shell: &str, bin: &std::path::Path, script: &str) -> FileState {
        let out = std::process::Command::new(shell)
            .arg("-c")
            .arg(format!("PATH={}:$PATH\n{script}", bin.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        FileState::parse(&out.stdout).unwrap()
    }

    /// The in-shell comparison never reports a file equal when it is not: for many near-miss
    /// files (a NUL or a non-ASCII byte in place of a character, CR for LF, a missing or extra
    /// newline, …) the probe's SHA-256 is the file's own, in dash and in bash (EL's `/bin/sh`).
    /// With a fake `sha256sum` first in PATH, only the files equal to the expected content get
    /// the real hash: they were decided without running it.
    #[test]
    fn expecting_probe_compares_exactly_in_the_shell() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let fake = dir.path().join("fake");
        std::fs::create_dir(&real).unwrap();
        std::fs::create_dir(&fake).unwrap();
        crate::testutil::fake_sha256sum(&fake);
        let path = dir.path().join("it's.conf");
        let p = path.to_str().unwrap();
        let expected_contents: [&[u8]; 7] = [
            b"key = value\n",
            b"a\\nb\t$(echo x) `id` 'q' \"d\" %s -e\n\n  indented\nno newline at end",
            b"",
            b"\n",
            b"\n\n",
            b"-n\n",
            b"  both ends  \n\t\n",
        ];
        let shells: Vec<&str> = ["sh", "bash"]
            .into_iter()
            .filter(|s| {
                std::process::Command::new(s)
                    .arg("-c")
                    .arg(":")
                    .output()
                    .is_ok()
            })
            .collect();
        for expected in expected_contents {
            assert!(inline_text(expected));
            let mut variants: Vec<Vec<u8>> = vec![expected.to_vec()];
            variants.push([expected, b"\n"].concat());
            variants.push([expected, b"x"].concat());
            // A NUL added: the shell's `read` drops it, only the size tells.
            variants.push([expected, b"\0"].concat());
            let middle = expected.len() / 2;
            variants.push([&expected[..middle], b"\0", &expected[middle..]].concat());
            if let Some((_, rest)) = expected.split_last() {
                variants.push(rest.to_vec());
            }
            // Every special character's position, and both ends.
            let last = expected.len().saturating_sub(1);
            let positions = expected.iter().enumerate().filter(|&(at, b)| {
                at < 2 || at + 2 > last || at == last / 2 || b"\n\t\\'$`".contains(b)
            });
            for (at, &b) in positions {
                for replacement in [0u8, 0xe9, b'\r', b'Z', b' ', b'\\'] {
                    if replacement != b {
                        let mut v = expected.to_vec();
                        v[at] = replacement;
                        variants.push(v);
                    }
                }
            }
            let script =
                probe_script_expecting(p, false, &Payload::bytes(expected.to_vec())).script;
            for variant in &variants {
                std::fs::write(&path, variant).unwrap();
                let equal = variant.as_slice() == expected;
                for shell in &shells {
                    let state = run_in(shell, &real, &script);
                    assert_eq!(
                        state.sha256.as_deref(),
                        Some(sha256_hex(variant).as_str()),
                        "{shell}: expected {expected:?}, file {variant:?}"
                    );
                    let faked = run_in(shell, &fake, &script);
                    let want = if equal {
                        sha256_hex(variant)
                    } else {
                        "fake".to_string()
                    };
                    assert_eq!(
                        faked.sha256.as_deref(),
                        Some(want.as_str()),
                        "{shell}: expected {expected:?}, file {variant:?}"
                    );
                }
            }
        }
        // Content that is not small plain text is hashed on the node.
        for expected in [
            vec![b'a'; INLINE_COMPARE_MAX + 1],
            "caf\u{e9}\n".as_bytes().to_vec(),
            b"a\rb".to_vec(),
        ] {
            assert!(!inline_text(&expected));
            std::fs::write(&path, &expected).unwrap();
            let script = probe_script_expecting(p, true, &Payload::bytes(expected.clone())).script;
            assert_eq!(run_in("sh", &fake, &script).sha256.as_deref(), Some("fake"));
            let state = run_in("sh", &real, &script);
            assert_eq!(
                state.sha256.as_deref(),
                Some(sha256_hex(&expected).as_str())
            );
            assert_eq!(state.content.as_deref(), Some(expected.as_slice()));
            // a file of another size differs without a hash: sha256sum is not run
            std::fs::write(&path, [expected.as_slice(), b"more"].concat()).unwrap();
            let other = run_in("sh", &fake, &script);
            assert_eq!(other.size, Some(expected.len() as u64 + 4));
            assert_eq!(other.sha256, None);
        }
    }

    /// A large file's hash is kept on the node: a second probe of the unchanged file runs no
    /// `sha256sum`; a file rewritten in place (same size, same modification time set back) or
    /// replaced is hashed again; a file changed in the last two seconds is not kept; an entry
    /// someone garbled is not believed.
    #[test]
    fn large_files_keep_their_hash_on_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let (real, fake, home) = (
            dir.path().join("real"),
            dir.path().join("fake"),
            dir.path().join("home"),
        );
        for d in [&real, &fake, &home] {
            std::fs::create_dir(d).unwrap();
        }
        crate::testutil::fake_sha256sum(&fake);
        let path = dir.path().join("big file.bin");
        let p = path.to_str().unwrap();
        let content = vec![7u8; NODE_SUM_CACHE_MIN as usize];
        let want = sha256_hex(&content);
        let script = probe_script_expecting(p, false, &Payload::bytes(content.clone())).script;
        let run = |bin: &std::path::Path| {
            run_in(
                "sh",
                bin,
                &format!("HOME={}\n{script}", quote(home.to_str().unwrap())),
            )
            .sha256
            .unwrap()
        };
        use crate::testutil::{age, only_entry};
        std::fs::write(&path, &content).unwrap();
        age(&path);
        // changed just now (its change time): hashed, not kept
        assert_eq!(run(&real), want);
        assert_eq!(run(&fake), "fake");
        // two seconds later it is kept, and then believed
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(run(&real), want);
        assert_eq!(run(&fake), want, "the kept hash answers");
        // rewritten in place, same size, modification time set back: its change time moved
        let mut other = content.clone();
        other[10] = 8;
        std::fs::write(&path, &other).unwrap();
        age(&path);
        assert_eq!(run(&fake), "fake");
        assert_eq!(run(&real), sha256_hex(&other));
        // a garbled entry is not believed
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(run(&real), sha256_hex(&other));
        let cache = home.join(".cache/drover/sha256");
        let entry = only_entry(&cache); // one entry per inode
        let text = std::fs::read_to_string(&entry).unwrap();
        std::fs::write(&entry, text.replace(&sha256_hex(&other), "short")).unwrap();
        assert_eq!(run(&fake), "fake");
        // an entry in a cache another user owns is not believed (the tests run as root, or
        // this user cannot give the directory away and the case is the same)
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(run(&real), sha256_hex(&other));
        let cache = home.join(".cache/drover/sha256");
        let entry = only_entry(&cache);
        let planted = std::fs::read_to_string(&entry)
            .unwrap()
            .replace(&sha256_hex(&other), &"a".repeat(64));
        std::fs::write(&entry, planted).unwrap();
        assert_eq!(
            run(&fake),
            "a".repeat(64),
            "this user's own entry is believed"
        );
        if std::process::Command::new("chown")
            .args(["-R", "65534", cache.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert_eq!(
                run(&fake),
                "fake",
                "an entry another user owns was believed"
            );
        }
        // without HOME, no cache at all (and nothing created)
        let bare = run_in("sh", &real, &format!("unset HOME\n{script}"));
        assert_eq!(bare.sha256.as_deref(), Some(sha256_hex(&other).as_str()));
    }

    /// The scripts really run: probe, write atomically (new and existing file), keep attributes.
    #[tokio::test]
    async fn scripts_work_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's a file.conf");
        let p = path.to_str().unwrap();
        let local = LocalConnection::new("localhost");

        let out = local.run(&probe_script(p, true)).await.unwrap();
        assert_eq!(
            FileState::parse(&out.stdout).unwrap().kind,
            FileKind::Absent
        );

        let options = WriteOptions {
            attrs: Attrs {
                mode: Some(Mode(0o640)),
                ..Attrs::default()
            },
            ..WriteOptions::default()
        };
        let out = local
            .run(&write_script(
                p,
                &options,
                &Payload::bytes(b"one\n".to_vec()),
            ))
            .await
            .unwrap();
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        let state =
            FileState::parse(&local.run(&probe_script(p, true)).await.unwrap().stdout).unwrap();
        assert_eq!(state.kind, FileKind::File);
        assert_eq!(state.mode, Some(Mode(0o640)));
        assert_eq!(state.sha256.as_deref(), Some(sha256_hex(b"one\n").as_str()));
        assert_eq!(state.text().as_deref(), Some("one\n"));

        // rewriting without a mode keeps the existing mode; backup keeps the old content
        let backup = WriteOptions {
            backup: true,
            ..WriteOptions::default()
        };
        let out = local
            .run(&write_script(
                p,
                &backup,
                &Payload::bytes(b"two\n".to_vec()),
            ))
            .await
            .unwrap();
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        let backup = out
            .stdout_text()
            .trim()
            .strip_prefix("backup=")
            .unwrap()
            .to_string();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "one\n");
        let state =
            FileState::parse(&local.run(&probe_script(p, false)).await.unwrap().stdout).unwrap();
        assert_eq!(state.mode, Some(Mode(0o640)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        // a failing validate leaves the target untouched
        let check = WriteOptions {
            validate: Some("grep -q ok %s".into()),
            ..WriteOptions::default()
        };
        let out = local
            .run(&write_script(p, &check, &Payload::bytes(b"bad\n".to_vec())))
            .await
            .unwrap();
        assert_ne!(out.status, 0);
        assert!(
            out.stderr_text().contains("validation failed"),
            "{}",
            out.stderr_text()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        // validate runs without a shell (as Ansible's run_command): quotes group words, `;`
        // and `$x` are literal
        let quoted = WriteOptions {
            validate: Some(r#"sh -c 'test "$(cat "$1")" = "ok;"' check %s"#.into()),
            ..WriteOptions::default()
        };
        let out = local
            .run(&write_script(p, &quoted, &Payload::bytes(b"ok;".to_vec())))
            .await
            .unwrap();
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ok;");
        let literal = WriteOptions {
            validate: Some("grep -q ok %s; true $HOME".into()),
            ..WriteOptions::default()
        };
        let out = local
            .run(&write_script(
                p,
                &literal,
                &Payload::bytes(b"ok\n".to_vec()),
            ))
            .await
            .unwrap();
        // grep is handed the files `<temp>;`, `true` and `$HOME`, none of which exist
        assert_eq!(out.status, 2, "{}", out.stderr_text());
        assert!(
            out.stderr_text()
                .contains("validation failed: grep -q ok %s; true $HOME"),
            "{}",
            out.stderr_text()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ok;");
        // no temp files left behind
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".drover."))
            .collect();
        assert!(leftovers.is_empty());

        // a controller that dies mid-upload closes stdin early: the node sees fewer bytes
        // than announced, installs nothing and leaves no temp file
        let mut cut = write_script(
            p,
            &WriteOptions::default(),
            &Payload::bytes(b"complete\n".to_vec()),
        );
        cut.stdin = Some(drover_connection::Stdin::Bytes(b"comp".to_vec().into()));
        let out = local.run(&cut).await.unwrap();
        assert_eq!(out.status, 1, "{}", out.stderr_text());
        assert!(
            out.stderr_text()
                .contains("incomplete upload: 4 of 9 bytes arrived; nothing was changed"),
            "{}",
            out.stderr_text()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ok;");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".drover."))
            .count();
        assert_eq!(leftovers, 0);
    }
}
