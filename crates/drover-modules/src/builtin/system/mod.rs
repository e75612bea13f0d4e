//! System modules: commands (`command`, `shell`, `raw`, `script`), packages (`package`, `apt`,
//! `dnf`/`yum`), services (`service`, `systemd`/`systemd_service`), accounts (`user`, `group`),
//! network (`wait_for`, `get_url`, `uri`), archives (`unarchive`) and `ping`.

pub mod apt;
pub mod command;
mod curl;
pub mod dnf;
pub mod get_url;
pub mod group;
pub mod package;
pub mod ping;
pub mod script;
pub mod systemd;
pub mod unarchive;
pub mod uri;
pub mod user;
mod util;
pub mod wait_for;

#[cfg(test)]
mod tests {
    use super::util::testing::{Files, out, prepare_with};
    use crate::Prepared;

    /// `service` says plainly that it needs systemd.
    #[test]
    fn service_refuses_non_systemd_nodes() {
        let files = Files(std::path::PathBuf::from("/nonexistent"));
        let Ok(Prepared::Remote(a)) = prepare_with(
            "service",
            serde_json::json!({"name": "nginx", "state": "started"}),
            &files,
        ) else {
            panic!("remote expected")
        };
        assert!(
            a.probe()
                .unwrap()
                .script
                .contains("[ -d /run/systemd/system ]")
        );
        let err = a
            .plan(Some(&out(
                0,
                "error=this node does not run systemd; drover's `service` module supports systemd only\n",
                "",
            )))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("supports systemd only"), "{err}");
    }
}
