//! The one driver of an [`Action`]: probe → plan → apply, or probe → plan → report in check
//! mode. The executor runs every node module through it, over its connections; the module
//! tests run it over a local shell. Where requests go is the caller's [`Transport`].

use std::future::Future;

use crate::diff::FileDiff;
use crate::{Action, ModuleError, ModuleResult, Outcome, Output, Request};

/// Where a driven action's requests run.
pub trait Transport {
    /// Why a request could not run at all (not a non-zero exit status: that is an output).
    type Error;
    /// Runs one request (one round trip).
    fn send(
        &mut self,
        request: Request,
    ) -> impl Future<Output = Result<Output, Self::Error>> + Send;

    /// Runs an action's read-only probe. A transport may answer it with the output of the
    /// same request taken earlier, when nothing can have changed since (the executor's
    /// look-ahead); by default it is sent like any request.
    fn probe(
        &mut self,
        request: Request,
    ) -> impl Future<Output = Result<Output, Self::Error>> + Send {
        self.send(request)
    }
}

/// What driving an action did.
#[derive(Debug)]
pub struct Driven {
    /// What the plan decided.
    pub outcome: Outcome,
    /// The task's result: the plan's when nothing was applied, else the module's `finish`.
    pub result: ModuleResult,
    /// The plan's file diffs (for `--diff`).
    pub diffs: Vec<FileDiff>,
    /// Requests sent.
    pub round_trips: u32,
}

/// Why driving stopped.
#[derive(Debug)]
pub enum DriveError<E> {
    /// The module could not plan or read its outputs.
    Module(ModuleError),
    /// A request could not be sent.
    Transport(E),
}

/// Runs `action`: the probe (if any), the plan, then in check mode the plan's prediction (or
/// the module's read-only confirmation, [`Action::check_request`]), otherwise the apply
/// scripts in order, stopping at the first that exits non-zero, and `finish`.
pub async fn drive<T: Transport>(
    action: &dyn Action,
    check: bool,
    transport: &mut T,
) -> Result<Driven, DriveError<T::Error>> {
    let mut round_trips = 0;
    let probe = match action.probe() {
        None => None,
        Some(request) => {
            round_trips += 1;
            Some(
                transport
                    .probe(request)
                    .await
                    .map_err(DriveError::Transport)?,
            )
        }
    };
    let plan = action.plan(probe.as_ref()).map_err(DriveError::Module)?;
    let result = match (plan.outcome, check) {
        (Outcome::Satisfied, _) | (Outcome::Unpredictable, true) => plan.result.clone(),
        (Outcome::Change, true) => match action.check_request(&plan) {
            None => plan.result.clone(),
            Some(request) => {
                round_trips += 1;
                let out = transport
                    .send(request)
                    .await
                    .map_err(DriveError::Transport)?;
                action
                    .check_result(&plan, &out)
                    .map_err(DriveError::Module)?
            }
        },
        (Outcome::Change | Outcome::Unpredictable, false) => {
            let mut outputs = Vec::new();
            for request in action.apply(&plan) {
                round_trips += 1;
                let out = transport
                    .send(request)
                    .await
                    .map_err(DriveError::Transport)?;
                let failed = out.status != 0;
                outputs.push(out);
                if failed {
                    break;
                }
            }
            action.finish(&plan, &outputs).map_err(DriveError::Module)?
        }
    };
    Ok(Driven {
        outcome: plan.outcome,
        result,
        diffs: plan.diffs,
        round_trips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Plan;
    use std::sync::Mutex;

    /// An action that records nothing itself: probe `probe`, plan `outcome`, two apply scripts.
    struct Scripted {
        outcome: Outcome,
        check_request: bool,
    }

    impl Action for Scripted {
        fn probe(&self) -> Option<Request> {
            Some(Request::new("probe"))
        }
        fn plan(&self, probe: Option<&Output>) -> Result<Plan, ModuleError> {
            assert_eq!(probe.map(Output::stdout_text).as_deref(), Some("probe"));
            Ok(match self.outcome {
                Outcome::Satisfied => Plan::satisfied(ModuleResult::ok().with_msg("satisfied")),
                Outcome::Change => Plan::change(ModuleResult::ok().with_msg("predicted"), ()),
                Outcome::Unpredictable => Plan::unpredictable(()),
            })
        }
        fn apply(&self, _: &Plan) -> Vec<Request> {
            vec![
                Request::new("apply1"),
                Request::new("fail"),
                Request::new("apply3"),
            ]
        }
        fn finish(&self, _: &Plan, outputs: &[Output]) -> Result<ModuleResult, ModuleError> {
            Ok(ModuleResult::ok().with_msg(format!("finished after {}", outputs.len())))
        }
        fn check_request(&self, _: &Plan) -> Option<Request> {
            self.check_request.then(|| Request::new("head"))
        }
        fn check_result(&self, _: &Plan, out: &Output) -> Result<ModuleResult, ModuleError> {
            Ok(ModuleResult::ok().with_msg(format!("confirmed by {}", out.stdout_text())))
        }
    }

    /// Echoes each script as stdout; `fail` exits 1.
    #[derive(Default)]
    struct Echo(Mutex<Vec<String>>);

    impl Transport for &Echo {
        type Error = String;
        fn send(
            &mut self,
            request: Request,
        ) -> impl Future<Output = Result<Output, String>> + Send {
            self.0.lock().unwrap().push(request.script.clone());
            let status = i32::from(request.script == "fail");
            std::future::ready(Ok(Output {
                status,
                stdout: request.script.into_bytes(),
                stderr: Vec::new(),
            }))
        }
    }

    fn drive_now(outcome: Outcome, check: bool, check_request: bool) -> (String, Vec<String>) {
        let echo = Echo::default();
        let action = Scripted {
            outcome,
            check_request,
        };
        let driven = futures_lite(drive(&action, check, &mut &echo)).unwrap_or_else(|e| {
            panic!("{e:?}");
        });
        assert_eq!(driven.round_trips as usize, echo.0.lock().unwrap().len());
        let sent = echo.0.lock().unwrap().clone();
        (driven.result.msg.unwrap_or_default(), sent)
    }

    /// Polls a future that never waits (the test transport answers at once).
    fn futures_lite<F: Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// Each (outcome, check mode) pair sends exactly the requests the design says.
    #[test]
    fn each_outcome_sends_what_it_should() {
        let cases: &[(Outcome, bool, bool, &str, &[&str])] = &[
            (Outcome::Satisfied, false, false, "satisfied", &["probe"]),
            (Outcome::Satisfied, true, false, "satisfied", &["probe"]),
            (Outcome::Change, true, false, "predicted", &["probe"]),
            (
                Outcome::Change,
                true,
                true,
                "confirmed by head",
                &["probe", "head"],
            ),
            (Outcome::Unpredictable, true, false, "", &["probe"]),
            // apply stops at the first script that exits non-zero
            (
                Outcome::Change,
                false,
                false,
                "finished after 2",
                &["probe", "apply1", "fail"],
            ),
            (
                Outcome::Unpredictable,
                false,
                false,
                "finished after 2",
                &["probe", "apply1", "fail"],
            ),
        ];
        for (outcome, check, confirm, msg, sent) in cases {
            let (got_msg, got_sent) = drive_now(*outcome, *check, *confirm);
            assert_eq!(
                (got_msg.as_str(), got_sent),
                (
                    *msg,
                    sent.iter().map(ToString::to_string).collect::<Vec<_>>()
                ),
                "{outcome:?} check={check} confirm={confirm}"
            );
        }
    }
}
