//! A thin, synchronous wrapper around the `docker` command-line client.
//!
//! The sandbox needs fixed addresses (`docker network create --subnet`,
//! `docker run --ip`), which testcontainers cannot express, so every engine
//! call goes through the CLI the user already has.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Runs `docker ARGS` and returns its standard output (trimmed at the end).
pub fn docker<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    docker_with_stdin(args, None)
}

/// Runs `docker ARGS`, feeding `stdin` when given.
pub fn docker_with_stdin<I, S>(args: I, stdin: Option<&[u8]>) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut cmd = Command::new("docker");
    cmd.args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::DockerUnavailable {
        detail: format!("cannot run `docker`: {e}"),
    })?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A failed write shows up as a failed command below.
        let _ = pipe.write_all(data);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::DockerUnavailable {
            detail: format!("waiting for `docker`: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(Error::Docker {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Checks that the docker client and engine answer.
pub fn ensure_available() -> Result<()> {
    match docker(["info", "--format", "{{.ServerVersion}}"]) {
        Ok(_) => Ok(()),
        Err(Error::Docker { stderr, .. }) => Err(Error::DockerUnavailable { detail: stderr }),
        Err(e) => Err(e),
    }
}

/// Whether `docker` is installed and its engine answers.
pub fn is_available() -> bool {
    ensure_available().is_ok()
}

/// Whether an image with this exact `name:tag` exists locally.
pub fn image_exists(tag: &str) -> Result<bool> {
    let out = docker(["images", "--quiet", tag])?;
    Ok(!out.trim().is_empty())
}

/// Names of containers carrying `label=value`, running or not.
pub fn containers_with_label(label: &str, value: &str) -> Result<Vec<String>> {
    let filter = format!("label={label}={value}");
    let out = docker(["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"])?;
    Ok(lines(&out))
}

/// Names of running containers carrying `label` (any value).
pub fn running_with_label_key(label: &str) -> Result<Vec<String>> {
    let filter = format!("label={label}");
    let out = docker(["ps", "--filter", &filter, "--format", "{{.Names}}"])?;
    Ok(lines(&out))
}

/// Names of networks carrying `label=value`.
pub fn networks_with_label(label: &str, value: &str) -> Result<Vec<String>> {
    let filter = format!("label={label}={value}");
    let out = docker([
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])?;
    Ok(lines(&out))
}

/// The IPv4 subnets of every docker network (to choose a free one).
pub fn used_subnets() -> Result<Vec<String>> {
    let ids = lines(&docker(["network", "ls", "--quiet"])?);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "network".to_owned(),
        "inspect".to_owned(),
        "--format".to_owned(),
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}".to_owned(),
    ];
    args.extend(ids);
    let out = docker(args)?;
    Ok(out.split_whitespace().map(str::to_owned).collect())
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
