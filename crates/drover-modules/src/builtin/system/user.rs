//! `user`: a local account (`getent` probe; `useradd`/`usermod`/`userdel`), with Ansible
//! 2.18's Linux semantics:
//!
//! - create: `useradd [-u uid [-o]] [-g group | -N] [-G groups] [-c comment] [-d home]
//!   [-s shell] (-m | -M) [-r] name` (`-N` when a group named like the user exists and no
//!   `group` is given, as Ansible does);
//! - modify: only what differs (`-u`, `-g`, `-G`/`-a -G` with `append`, `-c`, `-d` [+`-m` with
//!   `move_home`], `-s`); supplementary groups are the groups listing the user as a member;
//! - remove: `userdel [-f] [-r] name`;
//! - a `group`/`groups` entry that does not exist fails with "Group X does not exist";
//! - `generate_ssh_key`: `ssh-keygen -t <type> [-b <bits>] -C <comment> -f <file> -N ''` when
//!   the key file (default `~/.ssh/id_<type>`) does not exist (or `force`), owned by the user;
//!   results `ssh_fingerprint`, `ssh_key_file`, `ssh_public_key`.
//!
//! - `password` (a crypt hash, as Ansible expects) is compared with `/etc/shadow` (needs
//!   become) and set with `chpasswd -e` reading the hash from stdin (never on a command line);
//!   `update_password: on_create` sets it only for a new account.
//!
//! Not implemented (refused by name): `password_lock`, `password_expire_*`, `expires`, `ssh_key_passphrase`, `skeleton`, `umask`, `seuser`, `local`, `uid_min`/`uid_max`, `inactive`,
//! `login_class`, `hidden`, `profile`, `authorization`, `role`.

use drover_connection::shell::{join, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::util::{self, line_value, trimmed};
use crate::params::{Bool, Int, StringList, parse};
use crate::{Action, ModuleError, ModuleResult, Output, Plan, Prepared, Request};

const REFUSED: &[&str] = &[
    "password_lock",
    "password_expire_max",
    "password_expire_min",
    "password_expire_warn",
    "password_expire_account_disable",
    "expires",
    "ssh_key_passphrase",
    "skeleton",
    "umask",
    "seuser",
    "local",
    "uid_min",
    "uid_max",
    "inactive",
    "login_class",
    "hidden",
    "profile",
    "authorization",
    "role",
];

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    state: Option<String>,
    uid: Option<Int>,
    non_unique: Option<Bool>,
    group: Option<String>,
    groups: Option<StringList>,
    append: Option<Bool>,
    comment: Option<String>,
    home: Option<String>,
    shell: Option<String>,
    system: Option<Bool>,
    create_home: Option<Bool>,
    move_home: Option<Bool>,
    remove: Option<Bool>,
    force: Option<Bool>,
    password: Option<String>,
    update_password: Option<String>,
    generate_ssh_key: Option<Bool>,
    ssh_key_bits: Option<Int>,
    ssh_key_type: Option<String>,
    ssh_key_file: Option<String>,
    ssh_key_comment: Option<String>,
}

struct User {
    p: Params,
    present: bool,
}

/// What `apply` does.
struct Work {
    /// `useradd`/`usermod`/`userdel` words (empty: the account is as wanted).
    command: Vec<String>,
    /// Generate the SSH key.
    key: bool,
    /// Set the password hash.
    set_password: bool,
    /// The result to report after applying.
    full: ModuleResult,
}

/// Prepares a `user` task.
pub fn prepare(args: &Map<String, Value>) -> Result<Prepared, ModuleError> {
    util::refuse("user", args, REFUSED)?;
    let args = util::canonical_args(
        "user",
        args,
        &[("user", "name"), ("createhome", "create_home")],
    )?;
    let p: Params = parse("user", &args)?;
    if let Some(u) = p.update_password.as_deref()
        && u != "always"
        && u != "on_create"
    {
        return Err(ModuleError::params(format!(
            "module `user`: value of update_password must be one of: always, on_create, got: {u}"
        )));
    }
    let present = match p.state.as_deref().unwrap_or("present") {
        "present" => true,
        "absent" => false,
        other => {
            return Err(ModuleError::params(format!(
                "module `user`: value of state must be one of: absent, present, got: {other}"
            )));
        }
    };
    util::remote(User { p, present })
}

/// A `getent passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Passwd {
    uid: i64,
    gid: i64,
    comment: String,
    home: String,
    shell: String,
}

impl Passwd {
    fn parse(line: &str) -> Option<Passwd> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(Passwd {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            comment: f[4].to_string(),
            home: f[5].to_string(),
            shell: f[6].to_string(),
        })
    }
}

/// The parsed probe.
struct Probe {
    passwd: Option<Passwd>,
    /// Groups listing the user as a member.
    member_of: Vec<String>,
    /// Known groups: (asked name or gid, name, gid).
    groups: Vec<(String, String, i64)>,
}

impl Probe {
    fn parse(text: &str) -> Result<Probe, ModuleError> {
        let passwd = line_value(text, "passwd")
            .ok_or_else(|| ModuleError::node(format!("unexpected user probe output: {text}")))?;
        let mut groups = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("grp=")
                && let Some((asked, entry)) = rest.split_once('\t')
            {
                let f: Vec<&str> = entry.split(':').collect();
                if f.len() >= 3
                    && let Ok(gid) = f[2].parse()
                {
                    groups.push((asked.to_string(), f[0].to_string(), gid));
                }
            }
        }
        Ok(Probe {
            passwd: Passwd::parse(passwd),
            member_of: line_value(text, "member")
                .unwrap_or("")
                .split(',')
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
            groups,
        })
    }

    fn group(&self, asked: &str) -> Option<(&str, i64)> {
        self.groups
            .iter()
            .find(|(a, _, _)| a == asked)
            .map(|(_, n, g)| (n.as_str(), *g))
    }
}

impl User {
    fn wanted_groups(&self) -> Vec<String> {
        self.p
            .groups
            .as_ref()
            .map(|g| g.0.clone())
            .unwrap_or_default()
    }

    fn create_command(&self, probe: &Probe) -> Vec<String> {
        let p = &self.p;
        let mut c = vec!["useradd".to_string()];
        if let Some(uid) = p.uid {
            c.extend(["-u".into(), uid.0.to_string()]);
            if p.non_unique.is_some_and(|b| b.0) {
                c.push("-o".into());
            }
        }
        if let Some(group) = &p.group {
            c.extend(["-g".into(), group.clone()]);
        } else if probe.group(&p.name).is_some() {
            c.push("-N".into());
        }
        let groups = self.wanted_groups();
        if !groups.is_empty() {
            c.extend(["-G".into(), groups.join(",")]);
        }
        if let Some(comment) = &p.comment {
            c.extend(["-c".into(), comment.clone()]);
        }
        if let Some(home) = &p.home {
            c.extend(["-d".into(), home.clone()]);
        }
        if let Some(shell) = &p.shell {
            c.extend(["-s".into(), shell.clone()]);
        }
        c.push(if self.create_home() { "-m" } else { "-M" }.into());
        if p.system.is_some_and(|b| b.0) {
            c.push("-r".into());
        }
        c.push(p.name.clone());
        c
    }

    /// The password and SSH-key steps after the account command.
    fn extras_script(&self, work: &Work) -> String {
        let mut s = String::new();
        if work.set_password {
            s.push_str("chpasswd -e || exit $?\n");
        }
        if work.key {
            s.push_str(&self.key_script());
        }
        s
    }

    /// The apply request; the password hash travels on stdin.
    fn request(&self, script: String, work: &Work) -> Request {
        let request = Request::new(script);
        match (&self.p.password, work.set_password) {
            (Some(hash), true) => request.with_stdin(format!("{}:{hash}\n", self.p.name)),
            _ => request,
        }
    }

    fn generate_key(&self) -> bool {
        self.p.generate_ssh_key.is_some_and(|b| b.0)
    }

    fn key_type(&self) -> String {
        self.p.ssh_key_type.clone().unwrap_or_else(|| "rsa".into())
    }

    /// Sets `kf` to the key file: absolute as given, else under the user's home (from
    /// `getent`, else the `home` parameter, else `/home/<name>`).
    fn key_path_script(&self) -> String {
        let file = self
            .p
            .ssh_key_file
            .clone()
            .unwrap_or_else(|| format!(".ssh/id_{}", self.key_type()));
        let default_home = self
            .p
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", self.p.name));
        format!(
            "kf={}
case \"$kf\" in /*) ;; *) h=$(getent passwd -- {} | cut -d: -f6); [ -n \"$h\" ] || h={}; kf=\"$h/$kf\" ;; esac\n",
            quote(&file),
            quote(&self.p.name),
            quote(&default_home)
        )
    }

    /// Generates the SSH key (after the account exists) and prints its results.
    fn key_script(&self) -> String {
        let mut keygen = vec![
            "ssh-keygen".to_string(),
            "-q".into(),
            "-t".into(),
            self.key_type(),
        ];
        if let Some(bits) = self.p.ssh_key_bits.filter(|b| b.0 > 0) {
            keygen.extend(["-b".into(), bits.0.to_string()]);
        }
        let comment = match &self.p.ssh_key_comment {
            Some(c) => quote(c),
            None => "\"ansible-generated on $(hostname)\"".to_string(),
        };
        let u = quote(&self.p.name);
        format!(
            "{path}dir=$(dirname -- \"$kf\")\n\
             if [ ! -d \"$dir\" ]; then mkdir -m 0700 -- \"$dir\" && chown -- {u}: \"$dir\" || exit 1; fi\n\
             rm -f -- \"$kf\" \"$kf.pub\"\n\
             {keygen} -C {comment} -f \"$kf\" -N '' </dev/null || exit $?\n\
             chown -- {u}: \"$kf\" \"$kf.pub\"\n\
             echo \"sshkey_file=$kf\"\necho \"sshkey_fp=$(ssh-keygen -l -f \"$kf\")\"\necho \"sshkey_pub=$(cat -- \"$kf.pub\")\"\n",
            path = self.key_path_script(),
            keygen = join(&keygen),
        )
    }

    fn create_home(&self) -> bool {
        self.p.create_home.is_none_or(|b| b.0)
    }

    fn modify_command(&self, probe: &Probe, cur: &Passwd) -> Vec<String> {
        let p = &self.p;
        let mut c = vec!["usermod".to_string()];
        if let Some(uid) = p.uid
            && uid.0 != cur.uid
        {
            c.extend(["-u".into(), uid.0.to_string()]);
            if p.non_unique.is_some_and(|b| b.0) {
                c.push("-o".into());
            }
        }
        if let Some(group) = &p.group
            && let Some((_, gid)) = probe.group(group)
            && gid != cur.gid
        {
            c.extend(["-g".into(), gid.to_string()]);
        }
        if p.groups.is_some() {
            let wanted = self.wanted_groups();
            let append = p.append.is_some_and(|b| b.0);
            let need = if wanted.is_empty() {
                !probe.member_of.is_empty() && !append
            } else if append {
                wanted.iter().any(|g| !probe.member_of.contains(g))
            } else {
                let mut a = wanted.clone();
                a.sort();
                a.dedup();
                let mut b = probe.member_of.clone();
                b.sort();
                b.dedup();
                a != b
            };
            if need {
                if append {
                    c.push("-a".into());
                }
                c.extend(["-G".into(), wanted.join(",")]);
            }
        }
        if let Some(comment) = &p.comment
            && *comment != cur.comment
        {
            c.extend(["-c".into(), comment.clone()]);
        }
        if let Some(home) = &p.home
            && *home != cur.home
        {
            c.extend(["-d".into(), home.clone()]);
            if p.move_home.is_some_and(|b| b.0) {
                c.push("-m".into());
            }
        }
        if let Some(shell) = &p.shell
            && *shell != cur.shell
        {
            c.extend(["-s".into(), shell.clone()]);
        }
        if c.len() == 1 {
            return Vec::new();
        }
        c.push(p.name.clone());
        c
    }

    fn present_result(&self, cur: Option<&Passwd>, probe: &Probe) -> ModuleResult {
        let p = &self.p;
        let mut r = ModuleResult::ok()
            .with("name", p.name.clone())
            .with("state", "present");
        let gid = p
            .group
            .as_deref()
            .and_then(|g| probe.group(g).map(|(_, gid)| gid))
            .or(cur.map(|c| c.gid));
        if let Some(uid) = p.uid.map(|u| u.0).or(cur.map(|c| c.uid)) {
            r = r.with("uid", uid);
        }
        if let Some(gid) = gid {
            r = r.with("group", gid);
        }
        if let Some(c) = p.comment.clone().or(cur.map(|c| c.comment.clone())) {
            r = r.with("comment", c);
        }
        if let Some(h) = p.home.clone().or(cur.map(|c| c.home.clone())) {
            r = r.with("home", h);
        }
        if let Some(s) = p.shell.clone().or(cur.map(|c| c.shell.clone())) {
            r = r.with("shell", s);
        }
        if p.groups.is_some() {
            r = r.with("groups", self.wanted_groups().join(","));
        }
        if cur.is_none() {
            r = r
                .with("system", p.system.is_some_and(|b| b.0))
                .with("create_home", self.create_home());
        } else {
            r = r
                .with("append", p.append.is_some_and(|b| b.0))
                .with("move_home", p.move_home.is_some_and(|b| b.0));
        }
        r
    }
}

impl Action for User {
    fn probe(&self) -> Option<Request> {
        let mut s = format!(
            "u={}\nif l=$(getent passwd -- \"$u\"); then echo \"passwd=$l\"; else echo passwd=; fi\n\
             echo \"member=$(getent group | awk -F: -v u=\"$u\" '{{n=split($4,m,\",\"); for(i=1;i<=n;i++) if(m[i]==u){{print $1; break}}}}' | paste -sd, -)\"\n",
            quote(&self.p.name)
        );
        if self.present {
            let mut asked: Vec<String> = vec![self.p.name.clone()];
            asked.extend(self.p.group.clone());
            asked.extend(self.wanted_groups());
            asked.dedup();
            s.push_str(&format!(
                "for g in {}; do if e=$(getent group -- \"$g\"); then printf 'grp=%s\\t%s\\n' \"$g\" \"$e\"; fi; done\n",
                join(&asked)
            ));
            if self.p.password.is_some() {
                s.push_str(
                    "if [ -r /etc/shadow ]; then echo \"shadow=$(getent shadow -- \"$u\" | cut -d: -f2)\"; else echo shadow_unreadable=1; fi\n",
                );
            }
            if self.generate_key() {
                s.push_str(&self.key_path_script());
                s.push_str(
                    "echo \"sshkey_file=$kf\"\n\
                     if [ -e \"$kf\" ]; then echo sshkey=1; echo \"sshkey_fp=$(ssh-keygen -l -f \"$kf\" 2>&1)\"; echo \"sshkey_pub=$(cat -- \"$kf.pub\" 2>/dev/null)\"; \
                     elif [ -e \"$kf.pub\" ]; then echo sshkey=pub; else echo sshkey=0; fi\n",
                );
            }
        }
        Some(Request::new(s))
    }

    fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
        let out = probe.ok_or_else(|| ModuleError::internal("user needs its probe"))?;
        let probe = Probe::parse(&out.stdout_text())?;
        let name = &self.p.name;
        if !self.present {
            let r = ModuleResult::ok()
                .with("name", name.clone())
                .with("state", "absent");
            if probe.passwd.is_none() {
                return Ok(Plan::satisfied(r));
            }
            let full = r
                .with("force", self.p.force.is_some_and(|b| b.0))
                .with("remove", self.p.remove.is_some_and(|b| b.0));
            let mut c = vec!["userdel".to_string()];
            if self.p.force.is_some_and(|b| b.0) {
                c.push("-f".into());
            }
            if self.p.remove.is_some_and(|b| b.0) {
                c.push("-r".into());
            }
            c.push(name.clone());
            // Check mode reports only `changed`, as Ansible's module exits early.
            return Ok(Plan::change(
                ModuleResult::ok(),
                Work {
                    command: c,
                    key: false,
                    set_password: false,
                    full,
                },
            ));
        }
        if probe.passwd.is_some() {
            // For a new account Ansible checks groups only when creating it (check mode
            // reports `changed`); the apply script does the same check.
            for g in self.p.group.iter().chain(self.wanted_groups().iter()) {
                if probe.group(g).is_none() {
                    return Err(ModuleError::node(format!("Group {g} does not exist")));
                }
            }
        }
        let mut result = self.present_result(probe.passwd.as_ref(), &probe);
        let command = match &probe.passwd {
            None => self.create_command(&probe),
            Some(cur) => self.modify_command(&probe, cur),
        };
        let text = out.stdout_text();
        let mut set_password = false;
        if let Some(want) = &self.p.password {
            result = result.with("password", "NOT_LOGGING_PASSWORD");
            set_password = match &probe.passwd {
                None => true,
                Some(_) if self.p.update_password.as_deref() == Some("on_create") => false,
                Some(_) => {
                    if line_value(&text, "shadow_unreadable").is_some() {
                        return Err(ModuleError::node(format!(
                            "cannot read /etc/shadow to compare the password of `{}`: run the task with become",
                            self.p.name
                        )));
                    }
                    let current = line_value(&text, "shadow").unwrap_or("");
                    current.trim_start_matches('!') != want.trim_start_matches('!')
                }
            };
        }
        let mut key = false;
        if self.generate_key() {
            let state = line_value(&text, "sshkey").unwrap_or("0");
            key = state == "0" || self.p.force.is_some_and(|b| b.0);
            if let Some(file) = line_value(&text, "sshkey_file") {
                result = result.with("ssh_key_file", file.to_string());
            }
            if !key {
                // Ansible reports the existing key's fingerprint (`ssh-keygen -l`), or the
                // error text when only the public half exists.
                let fingerprint = match line_value(&text, "sshkey_fp") {
                    Some(fp) => fp.trim().to_string(),
                    None => format!(
                        "SSH Key file {} does not exist",
                        line_value(&text, "sshkey_file").unwrap_or("")
                    ),
                };
                result = result.with("ssh_fingerprint", fingerprint).with(
                    "ssh_public_key",
                    line_value(&text, "sshkey_pub")
                        .filter(|k| !k.is_empty())
                        .map_or(Value::Null, |k| Value::String(k.to_string())),
                );
            }
        }
        if command.is_empty() && !key && !set_password {
            return Ok(Plan::satisfied(result));
        }
        let reported = if probe.passwd.is_none() {
            ModuleResult::ok()
        } else {
            result.clone()
        };
        Ok(Plan::change(
            reported,
            Work {
                command,
                key,
                set_password,
                full: result,
            },
        ))
    }

    fn apply(&self, plan: &Plan) -> Vec<Request> {
        let Ok(work) = plan.state::<Work>() else {
            return Vec::new();
        };
        let command = &work.command;
        let mut s = String::new();
        if command.is_empty() {
            s.push_str(&self.extras_script(work));
            return vec![self.request(s, work)];
        }
        if command.first().map(String::as_str) == Some("useradd") {
            for g in self.p.group.iter().chain(self.wanted_groups().iter()) {
                s.push_str(&format!(
                    "getent group -- {q} >/dev/null || {{ echo {msg} >&2; exit 1; }}\n",
                    q = quote(g),
                    msg = quote(&format!("Group {g} does not exist"))
                ));
            }
        }
        if command.first().map(String::as_str) == Some("useradd")
            && self.create_home()
            && let Some(home) = &self.p.home
            && let Some((parent, _)) = home.trim_end_matches('/').rsplit_once('/')
            && !parent.is_empty()
        {
            s.push_str(&format!("mkdir -p -- {}\n", quote(parent)));
        }
        s.push_str(&join(command));
        s.push('\n');
        if self.present {
            s.push_str(&format!(
                "rc=$?; [ $rc -eq 0 ] || exit $rc\necho \"passwd=$(getent passwd -- {})\"\n",
                quote(&self.p.name)
            ));
            s.push_str(&self.extras_script(work));
        }
        vec![self.request(s, work)]
    }

    fn finish(&self, plan: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
        let out = util::first_output("user", outputs)?;
        let mut r = plan.state::<Work>()?.full.clone();
        r.changed = true;
        let stderr = trimmed(&out.stderr);
        if out.status != 0 {
            r.failed = true;
            r.changed = false;
            r.rc = Some(out.status);
            r.msg = Some(stderr);
            return Ok(r);
        }
        let text = out.stdout_text();
        if let Some(fp) = line_value(&text, "sshkey_fp") {
            r = r.with("ssh_fingerprint", fp.to_string()).with(
                "ssh_public_key",
                line_value(&text, "sshkey_pub").unwrap_or("").to_string(),
            );
            if let Some(file) = line_value(&text, "sshkey_file") {
                r = r.with("ssh_key_file", file.to_string());
            }
        }
        if let Some(cur) = line_value(&text, "passwd").and_then(Passwd::parse) {
            r = r
                .with("uid", cur.uid)
                .with("group", cur.gid)
                .with("comment", cur.comment)
                .with("home", cur.home)
                .with("shell", cur.shell);
        }
        if !stderr.is_empty() {
            r.stderr = Some(stderr);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::testing::{action, error, out, run_local};
    use crate::Outcome;
    use serde_json::json;

    const DBSU: &str = "passwd=postgres:x:26:26:pg dbsu:/var/lib/pgsql:/bin/bash\nmember=wheel\ngrp=postgres\tpostgres:x:26:\ngrp=wheel\twheel:x:10:postgres\ngrp=admin\tadmin:x:11:\n";

    #[test]
    fn creates_with_ansible_flags() {
        let a = action(
            "user",
            json!({"name": "postgres", "uid": 26, "groups": ["wheel", "admin"], "home": "/var/lib/pgsql", "shell": "/bin/bash", "comment": "pg dbsu", "system": true}),
        );
        let s = a.probe().unwrap().script;
        assert!(s.contains("for g in postgres wheel admin; do"), "{s}");
        let plan = a
            .plan(Some(&out(0, "passwd=\nmember=\ngrp=postgres\tpostgres:x:26:\ngrp=wheel\twheel:x:10:\ngrp=admin\tadmin:x:11:\n", "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        assert_eq!(
            a.apply(&plan)[0].script,
            "getent group -- wheel >/dev/null || { echo 'Group wheel does not exist' >&2; exit 1; }\n\
             getent group -- admin >/dev/null || { echo 'Group admin does not exist' >&2; exit 1; }\n\
             mkdir -p -- /var/lib\nuseradd -u 26 -N -G wheel,admin -c 'pg dbsu' -d /var/lib/pgsql -s /bin/bash -m -r postgres\nrc=$?; [ $rc -eq 0 ] || exit $rc\necho \"passwd=$(getent passwd -- postgres)\"\n"
        );
        let r = a
            .finish(
                &plan,
                &[out(
                    0,
                    "passwd=postgres:x:26:100:pg dbsu:/var/lib/pgsql:/bin/bash\n",
                    "",
                )],
            )
            .unwrap();
        assert_eq!(r.extra["group"], 100);
        assert_eq!(r.extra["create_home"], true);
    }

    #[test]
    fn existing_user_changes_only_what_differs() {
        let a = action(
            "user",
            json!({"name": "postgres", "groups": "wheel,admin", "append": true, "shell": "/bin/bash"}),
        );
        let plan = a.plan(Some(&out(0, DBSU, ""))).unwrap();
        assert_eq!(
            a.apply(&plan)[0].script.lines().next().unwrap(),
            "usermod -a -G wheel,admin postgres"
        );
        let a = action(
            "user",
            json!({"name": "postgres", "groups": ["wheel"], "uid": "26", "comment": "pg dbsu"}),
        );
        assert_eq!(
            a.plan(Some(&out(0, DBSU, ""))).unwrap().outcome,
            Outcome::Satisfied
        );
        let a = action("user", json!({"name": "postgres", "groups": []}));
        let plan = a.plan(Some(&out(0, DBSU, ""))).unwrap();
        assert_eq!(
            a.apply(&plan)[0].script.lines().next().unwrap(),
            "usermod -G '' postgres"
        );
    }

    #[test]
    fn missing_group_and_removal() {
        // a new account: check mode says changed (Ansible exits early), the run fails
        let a = action("user", json!({"name": "x", "group": "nosuch"}));
        let plan = a.plan(Some(&out(0, "passwd=\nmember=\n", ""))).unwrap();
        assert_eq!(
            plan.result.to_registered(),
            json!({"changed": true, "failed": false})
        );
        assert!(a.apply(&plan)[0].script.starts_with(
            "getent group -- nosuch >/dev/null || { echo 'Group nosuch does not exist' >&2; exit 1; }\n"
        ));
        let r = a
            .finish(&plan, &[out(1, "", "Group nosuch does not exist\n")])
            .unwrap();
        assert!(r.failed);
        assert_eq!(r.msg.as_deref(), Some("Group nosuch does not exist"));
        // an existing account: the plan fails, in check mode too
        let a = action("user", json!({"name": "postgres", "group": "nosuch"}));
        let err = a.plan(Some(&out(0, DBSU, ""))).err().unwrap().to_string();
        assert_eq!(err, "Group nosuch does not exist");
        let a = action(
            "user",
            json!({"name": "postgres", "state": "absent", "remove": true}),
        );
        let plan = a.plan(Some(&out(0, DBSU, ""))).unwrap();
        assert_eq!(a.apply(&plan)[0].script, "userdel -r postgres\n");
        assert_eq!(
            a.plan(Some(&out(0, "passwd=\nmember=\n", "")))
                .unwrap()
                .outcome,
            Outcome::Satisfied
        );
        assert!(
            error("user", json!({"name": "x", "password_lock": true}))
                .contains("`password_lock` is not implemented")
        );
    }

    #[test]
    fn password_hash_is_compared_and_sent_on_stdin() {
        let hash = "$6$salt$abc";
        let a = action("user", json!({"name": "postgres", "password": hash}));
        assert!(
            a.probe()
                .unwrap()
                .script
                .contains("getent shadow -- \"$u\"")
        );
        let probe = format!("{DBSU}shadow=!{hash}\n");
        let plan = a.plan(Some(&out(0, &probe, ""))).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert_eq!(plan.result.extra["password"], "NOT_LOGGING_PASSWORD");
        let plan = a
            .plan(Some(&out(0, &format!("{DBSU}shadow=*\n"), "")))
            .unwrap();
        assert_eq!(plan.outcome, Outcome::Change);
        let req = &a.apply(&plan)[0];
        assert_eq!(req.script, "chpasswd -e || exit $?\n");
        assert_eq!(
            req.stdin_bytes(),
            Some(format!("postgres:{hash}\n").as_bytes())
        );
        assert!(!req.script.contains(hash));
        let err = a
            .plan(Some(&out(0, &format!("{DBSU}shadow_unreadable=1\n"), "")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("run the task with become"), "{err}");
        let a = action(
            "user",
            json!({"name": "postgres", "password": hash, "update_password": "on_create"}),
        );
        assert_eq!(
            a.plan(Some(&out(0, &format!("{DBSU}shadow=*\n"), "")))
                .unwrap()
                .outcome,
            Outcome::Satisfied
        );
    }

    /// `generate_ssh_key` for an existing account (root), with the key file in a temp dir: the
    /// real ssh-keygen runs once, then the key exists and the plan is satisfied.
    #[tokio::test]
    async fn generates_an_ssh_key_once() {
        if std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_err()
        {
            return; // no ssh-keygen on this controller
        }
        let dir = tempfile::tempdir().unwrap();
        let kf = dir.path().join("keys/id_ed25519");
        let args = json!({"name": "root", "generate_ssh_key": true, "ssh_key_type": "ed25519",
                          "ssh_key_file": kf.to_str().unwrap(), "ssh_key_comment": "drover test"});
        let a = action("user", args.clone());
        let probe = run_local(&a.probe().unwrap()).await;
        let plan = a.plan(Some(&probe)).unwrap();
        assert_eq!(plan.outcome, Outcome::Change, "{}", probe.stdout_text());
        let script = &a.apply(&plan)[0].script;
        assert!(
            script.contains("ssh-keygen -q -t ed25519 -C 'drover test' -f \"$kf\" -N ''"),
            "{script}"
        );
        let o = run_local(&a.apply(&plan)[0]).await;
        let r = a.finish(&plan, &[o]).unwrap();
        assert!(r.changed && !r.failed, "{:?}", r.msg);
        assert!(
            r.extra["ssh_public_key"]
                .as_str()
                .unwrap()
                .starts_with("ssh-ed25519 ")
        );
        assert!(
            r.extra["ssh_fingerprint"]
                .as_str()
                .unwrap()
                .contains("drover test")
        );
        assert!(kf.exists());
        let a = action("user", args);
        let probe = run_local(&a.probe().unwrap()).await;
        let plan = a.plan(Some(&probe)).unwrap();
        assert_eq!(plan.outcome, Outcome::Satisfied);
        assert!(
            plan.result.extra["ssh_fingerprint"]
                .as_str()
                .unwrap()
                .contains("drover test (ED25519)"),
            "{:?}",
            plan.result.extra
        );
    }

    /// The probe runs in a real shell against this machine's account database (read-only).
    #[tokio::test]
    async fn probe_reads_root() {
        let a = action(
            "user",
            json!({"name": "root", "group": "root", "shell": "/bin/sh-not-this"}),
        );
        let o = run_local(&a.probe().unwrap()).await;
        assert_eq!(o.status, 0, "{}", o.stderr_text());
        let plan = a.plan(Some(&o)).unwrap();
        assert_eq!(plan.outcome, Outcome::Change, "{}", o.stdout_text());
        assert_eq!(
            a.apply(&plan)[0].script.lines().next().unwrap(),
            "usermod -s /bin/sh-not-this root"
        );
        assert_eq!(plan.result.extra["uid"], 0);
    }
}
