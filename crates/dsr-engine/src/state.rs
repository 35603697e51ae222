//! The pure state machines of requests and tasks: `(state, event) -> (state, effects)`.
//!
//! No IO, no clock, no store: the [`Engine`](crate::Engine) and the
//! [`Worker`](crate::Worker) load the current state, call these functions, and carry out
//! the effects in one conditional commit. Every `(state, event)` pair is covered by the
//! table-driven tests below.
//!
//! ```text
//! request:  received ──resolved──▶ in_progress ──tasks settled──▶ completed
//!              │  └──resolved(hold)──▶ on_hold ──proceed──▶ in_progress   │ partially_failed
//!              │                        │  └──refuse──▶ refused           │ failed
//!              └─cancel─▶ cancelled ◀───┴─cancel (nothing irreversible ran)
//!           partially_failed | failed ──retry──▶ in_progress
//! task:     pending ──claim──▶ running ──succeeded──▶ done
//!           retry_wait ──claim──▶ running ──failed (transient, attempts left)──▶ retry_wait
//!           running ──claim (lease expired)──▶ running     running ──failed──▶ dead
//!           pending | retry_wait ──cancel──▶ cancelled    dead ──rearm──▶ pending
//!           running ──await person (manual service)──▶ waiting ──answered──▶ done | dead
//!           waiting ──cancel──▶ cancelled
//! ```

use crate::types::{RequestStatus, TaskStatus};
use serde::Serialize;

/// Something that happens to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RequestEvent {
    /// The subject was resolved; `hold` is set when a policy holds the request.
    Resolved {
        /// Why the request is held, if it is.
        hold: Option<String>,
    },
    /// A decision to carry out a held request (with a recorded justification).
    Proceed,
    /// A decision to refuse a held request (citing the legal ground).
    Refuse,
    /// A cancellation.
    Cancel {
        /// Whether any task of the request has started or done something that cannot
        /// be undone (any task of an update or delete that ran, even partly).
        irreversible_started: bool,
    },
    /// Every task is finished.
    TasksSettled {
        /// Tasks done.
        done: usize,
        /// Tasks dead.
        dead: usize,
    },
    /// Retry the failed tasks of a finished request.
    Retry,
}

impl RequestEvent {
    /// One value of every kind (for exhaustive tests and docs).
    pub fn samples() -> Vec<RequestEvent> {
        vec![
            RequestEvent::Resolved { hold: None },
            RequestEvent::Resolved {
                hold: Some("active employee".into()),
            },
            RequestEvent::Proceed,
            RequestEvent::Refuse,
            RequestEvent::Cancel {
                irreversible_started: false,
            },
            RequestEvent::Cancel {
                irreversible_started: true,
            },
            RequestEvent::TasksSettled { done: 2, dead: 0 },
            RequestEvent::TasksSettled { done: 1, dead: 1 },
            RequestEvent::TasksSettled { done: 0, dead: 2 },
            RequestEvent::TasksSettled { done: 0, dead: 0 },
            RequestEvent::Retry,
        ]
    }
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            RequestEvent::Resolved { .. } => "resolve",
            RequestEvent::Proceed => "proceed",
            RequestEvent::Refuse => "refuse",
            RequestEvent::Cancel { .. } => "cancel",
            RequestEvent::TasksSettled { .. } => "settle",
            RequestEvent::Retry => "retry",
        }
    }
}

/// What the shell must do after a request transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEffect {
    /// Create one pending task per registered service.
    CreateTasks,
    /// Cancel the tasks that have not started.
    CancelOpenTasks,
    /// Put dead tasks back to pending.
    RearmDeadTasks,
    /// Record that the request finished (finished_at, audit).
    Finish,
    /// Build the export package (export / portability), if any.
    BuildPackage,
}

/// A refused transition: the event is not allowed in this state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not allowed when {state}{hint}")]
pub struct NotAllowed {
    /// The state.
    pub state: String,
    /// The event.
    pub event: String,
    /// A hint (starting with "; ") or empty.
    pub hint: String,
}

fn refuse<S: std::fmt::Display>(state: S, event: &str, hint: &str) -> NotAllowed {
    NotAllowed {
        state: state.to_string(),
        event: event.to_owned(),
        hint: if hint.is_empty() {
            String::new()
        } else {
            format!("; {hint}")
        },
    }
}

/// The request transition function.
pub fn request(
    state: RequestStatus,
    event: &RequestEvent,
) -> Result<(RequestStatus, Vec<RequestEffect>), NotAllowed> {
    use RequestEffect as F;
    use RequestEvent as E;
    use RequestStatus as S;
    Ok(match (state, event) {
        (S::Received, E::Resolved { hold: None }) => (S::InProgress, vec![F::CreateTasks]),
        (S::Received, E::Resolved { hold: Some(_) }) => (S::OnHold, vec![]),
        (S::OnHold, E::Proceed) => (S::InProgress, vec![F::CreateTasks]),
        (S::OnHold, E::Refuse) => (S::Refused, vec![F::Finish]),
        (S::Received | S::OnHold, E::Cancel { .. }) => (S::Cancelled, vec![F::Finish]),
        (
            S::InProgress,
            E::Cancel {
                irreversible_started: false,
            },
        ) => (S::Cancelled, vec![F::CancelOpenTasks, F::Finish]),
        (
            S::InProgress,
            E::Cancel {
                irreversible_started: true,
            },
        ) => {
            return Err(refuse(
                state,
                "cancel",
                "a service has already changed data for it, so it runs to completion",
            ));
        }
        (S::InProgress, E::TasksSettled { done, dead }) => {
            let to = match (*done, *dead) {
                (_, 0) => S::Completed,
                (0, _) => S::Failed,
                _ => S::PartiallyFailed,
            };
            let mut fx = vec![F::Finish];
            if to == S::Completed {
                fx.push(F::BuildPackage);
            }
            (to, fx)
        }
        (S::PartiallyFailed | S::Failed, E::Retry) => (S::InProgress, vec![F::RearmDeadTasks]),
        (S::Completed | S::PartiallyFailed | S::Failed | S::Cancelled | S::Refused, _) => {
            return Err(refuse(
                state,
                event.name(),
                if matches!(event, E::Retry) && state == S::Completed {
                    "nothing failed"
                } else {
                    "the request is finished"
                },
            ));
        }
        (S::OnHold, _) => {
            return Err(refuse(
                state,
                event.name(),
                "decide first (proceed with a justification, or refuse citing the legal ground)",
            ));
        }
        (S::Received | S::InProgress, _) => return Err(refuse(state, event.name(), "")),
    })
}

/// Something that happens to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TaskEvent {
    /// A worker claims the task. `lease_expired` says whether a running task's lease has
    /// expired (its worker died); claiming a running task with a live lease is refused.
    Claim {
        /// Whether the current lease (if running) has expired.
        lease_expired: bool,
    },
    /// The service call succeeded.
    Succeeded,
    /// The service call failed.
    Failed {
        /// Whether another attempt may succeed (network, timeout, rate limit).
        transient: bool,
        /// Whether the attempt limit still allows another attempt.
        attempts_left: bool,
    },
    /// The request was cancelled.
    Cancel,
    /// The request is retried: a dead task gets another chance.
    Rearm,
    /// The claimed task belongs to a `manual` service: it is not called like a machine
    /// but handed to a person (G-18).
    AwaitPerson,
    /// The person recorded their answer (`done`: done or nothing found; else failed).
    Answered {
        /// Whether they did their part.
        done: bool,
    },
}

impl TaskEvent {
    /// One value of every kind.
    pub fn samples() -> Vec<TaskEvent> {
        let mut v = vec![
            TaskEvent::Claim {
                lease_expired: false,
            },
            TaskEvent::Claim {
                lease_expired: true,
            },
            TaskEvent::Succeeded,
        ];
        for transient in [false, true] {
            for attempts_left in [false, true] {
                v.push(TaskEvent::Failed {
                    transient,
                    attempts_left,
                });
            }
        }
        v.extend([
            TaskEvent::Cancel,
            TaskEvent::Rearm,
            TaskEvent::AwaitPerson,
            TaskEvent::Answered { done: true },
            TaskEvent::Answered { done: false },
        ]);
        v
    }
    fn name(&self) -> &'static str {
        match self {
            TaskEvent::Claim { .. } => "claim",
            TaskEvent::Succeeded => "succeed",
            TaskEvent::Failed { .. } => "fail",
            TaskEvent::Cancel => "cancel",
            TaskEvent::Rearm => "rearm",
            TaskEvent::AwaitPerson => "hand to a person",
            TaskEvent::Answered { .. } => "complete",
        }
    }
}

/// What the shell must do after a task transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEffect {
    /// Take the lease and increment the attempt counter.
    TakeLease,
    /// Release the lease.
    ReleaseLease,
    /// Schedule the next attempt after a backoff.
    ScheduleRetry,
    /// Record the outcome (done, or failed with the service's error).
    RecordOutcome,
    /// Reset the attempt counter.
    ResetAttempts,
    /// Re-derive the request's status from its tasks.
    SettleRequest,
    /// Record to whom the task is assigned and the instructions (manual services).
    RecordAssignment,
}

/// The task transition function.
pub fn task(
    state: TaskStatus,
    event: TaskEvent,
) -> Result<(TaskStatus, Vec<TaskEffect>), NotAllowed> {
    use TaskEffect as F;
    use TaskEvent as E;
    use TaskStatus as S;
    Ok(match (state, event) {
        (S::Pending | S::RetryWait, E::Claim { .. }) => (S::Running, vec![F::TakeLease]),
        (
            S::Running,
            E::Claim {
                lease_expired: true,
            },
        ) => (S::Running, vec![F::TakeLease]),
        (
            S::Running,
            E::Claim {
                lease_expired: false,
            },
        ) => return Err(refuse(state, "claim", "another worker holds the lease")),
        (S::Running, E::Succeeded) => (
            S::Done,
            vec![F::ReleaseLease, F::RecordOutcome, F::SettleRequest],
        ),
        (
            S::Running,
            E::Failed {
                transient: true,
                attempts_left: true,
            },
        ) => (S::RetryWait, vec![F::ReleaseLease, F::ScheduleRetry]),
        (S::Running, E::Failed { .. }) => (
            S::Dead,
            vec![F::ReleaseLease, F::RecordOutcome, F::SettleRequest],
        ),
        (S::Running, E::AwaitPerson) => (S::Waiting, vec![F::ReleaseLease, F::RecordAssignment]),
        (S::Waiting, E::Answered { done: true }) => {
            (S::Done, vec![F::RecordOutcome, F::SettleRequest])
        }
        (S::Waiting, E::Answered { done: false }) => {
            (S::Dead, vec![F::RecordOutcome, F::SettleRequest])
        }
        (S::Pending | S::RetryWait | S::Waiting, E::Cancel) => (S::Cancelled, vec![]),
        (S::Waiting, _) => {
            return Err(refuse(
                state,
                event.name(),
                "it waits on a person: record their answer with `dsr task complete`",
            ));
        }
        (S::Running, E::Cancel) => {
            return Err(refuse(state, "cancel", "a worker is carrying it out"));
        }
        (S::Dead, E::Rearm) => (S::Pending, vec![F::ResetAttempts]),
        (S::Done | S::Dead | S::Cancelled, _) => {
            return Err(refuse(state, event.name(), "the task is finished"));
        }
        (_, E::Answered { .. }) => {
            return Err(refuse(
                state,
                "complete",
                "only a task waiting on a person (a manual service) is completed by hand",
            ));
        }
        (S::Pending | S::RetryWait, _) => {
            return Err(refuse(state, event.name(), "the task is not running"));
        }
        (S::Running, E::Rearm) => return Err(refuse(state, "rearm", "")),
    })
}

/// The event that settles a request once all its tasks are finished, or `None` while
/// some task is still open. Cancelled tasks count as neither done nor dead.
pub fn settle<'a>(tasks: impl IntoIterator<Item = &'a TaskStatus>) -> Option<RequestEvent> {
    let (mut done, mut dead) = (0, 0);
    for t in tasks {
        match t {
            TaskStatus::Done => done += 1,
            TaskStatus::Dead => dead += 1,
            TaskStatus::Cancelled => {}
            _ => return None,
        }
    }
    Some(RequestEvent::TasksSettled { done, dead })
}

/// The retry delay before attempt `attempt + 1` (exponential, capped, in milliseconds).
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let shift = attempt.saturating_sub(1).min(20);
    base_ms.saturating_mul(1u64 << shift).min(cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus as S;

    /// The whole request table: every state × every sample event, the expected result
    /// (`None` = refused). Written out so a change to the machine shows up here.
    fn expected_request(s: S, e: &RequestEvent) -> Option<S> {
        use RequestEvent as E;
        match (s, e) {
            (S::Received, E::Resolved { hold: None }) => Some(S::InProgress),
            (S::Received, E::Resolved { hold: Some(_) }) => Some(S::OnHold),
            (S::Received, E::Cancel { .. }) => Some(S::Cancelled),
            (S::OnHold, E::Proceed) => Some(S::InProgress),
            (S::OnHold, E::Refuse) => Some(S::Refused),
            (S::OnHold, E::Cancel { .. }) => Some(S::Cancelled),
            (
                S::InProgress,
                E::Cancel {
                    irreversible_started: false,
                },
            ) => Some(S::Cancelled),
            (S::InProgress, E::TasksSettled { done: 2, dead: 0 }) => Some(S::Completed),
            (S::InProgress, E::TasksSettled { done: 0, dead: 0 }) => Some(S::Completed),
            (S::InProgress, E::TasksSettled { done: 1, dead: 1 }) => Some(S::PartiallyFailed),
            (S::InProgress, E::TasksSettled { done: 0, dead: 2 }) => Some(S::Failed),
            (S::PartiallyFailed | S::Failed, E::Retry) => Some(S::InProgress),
            _ => None,
        }
    }

    #[test]
    fn every_request_state_and_event() {
        let mut allowed = 0;
        for &s in S::ALL {
            for e in RequestEvent::samples() {
                let got = request(s, &e).map(|(to, _)| to).ok();
                assert_eq!(got, expected_request(s, &e), "{s} + {e:?}");
                allowed += usize::from(got.is_some());
                if let Err(err) = request(s, &e) {
                    assert!(err.to_string().contains(s.as_str()), "{err}");
                }
            }
        }
        assert_eq!(allowed, 15, "the number of allowed transitions changed");
    }

    #[test]
    fn finished_requests_accept_nothing_but_retry_after_failure() {
        for &s in S::ALL.iter().filter(|s| s.is_finished()) {
            for e in RequestEvent::samples() {
                let ok = request(s, &e).is_ok();
                assert_eq!(
                    ok,
                    matches!(e, RequestEvent::Retry) && matches!(s, S::Failed | S::PartiallyFailed),
                    "{s} + {e:?}"
                );
            }
        }
    }

    #[test]
    fn effects_of_request_transitions() {
        let fx = |s, e: RequestEvent| request(s, &e).unwrap().1;
        assert_eq!(
            fx(S::Received, RequestEvent::Resolved { hold: None }),
            vec![RequestEffect::CreateTasks]
        );
        assert!(
            fx(
                S::Received,
                RequestEvent::Resolved {
                    hold: Some("x".into())
                }
            )
            .is_empty()
        );
        assert_eq!(
            fx(S::OnHold, RequestEvent::Proceed),
            vec![RequestEffect::CreateTasks]
        );
        assert_eq!(
            fx(
                S::InProgress,
                RequestEvent::Cancel {
                    irreversible_started: false
                }
            ),
            vec![RequestEffect::CancelOpenTasks, RequestEffect::Finish]
        );
        assert_eq!(
            fx(
                S::InProgress,
                RequestEvent::TasksSettled { done: 1, dead: 0 }
            ),
            vec![RequestEffect::Finish, RequestEffect::BuildPackage]
        );
        assert_eq!(
            fx(
                S::InProgress,
                RequestEvent::TasksSettled { done: 1, dead: 1 }
            ),
            vec![RequestEffect::Finish]
        );
        assert_eq!(
            fx(S::Failed, RequestEvent::Retry),
            vec![RequestEffect::RearmDeadTasks]
        );
    }

    #[test]
    fn cancelling_after_an_irreversible_step_explains_why_not() {
        let err = request(
            S::InProgress,
            &RequestEvent::Cancel {
                irreversible_started: true,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("already changed data"), "{err}");
        let err = request(S::OnHold, &RequestEvent::Retry).unwrap_err();
        assert!(err.to_string().contains("decide first"), "{err}");
    }

    fn expected_task(s: TaskStatus, e: TaskEvent) -> Option<TaskStatus> {
        use TaskEvent as E;
        use TaskStatus as T;
        match (s, e) {
            (T::Pending | T::RetryWait, E::Claim { .. }) => Some(T::Running),
            (
                T::Running,
                E::Claim {
                    lease_expired: true,
                },
            ) => Some(T::Running),
            (T::Running, E::Succeeded) => Some(T::Done),
            (
                T::Running,
                E::Failed {
                    transient: true,
                    attempts_left: true,
                },
            ) => Some(T::RetryWait),
            (T::Running, E::Failed { .. }) => Some(T::Dead),
            (T::Pending | T::RetryWait | T::Waiting, E::Cancel) => Some(T::Cancelled),
            (T::Dead, E::Rearm) => Some(T::Pending),
            (T::Running, E::AwaitPerson) => Some(T::Waiting),
            (T::Waiting, E::Answered { done: true }) => Some(T::Done),
            (T::Waiting, E::Answered { done: false }) => Some(T::Dead),
            _ => None,
        }
    }

    #[test]
    fn every_task_state_and_event() {
        let mut allowed = 0;
        for &s in TaskStatus::ALL {
            for e in TaskEvent::samples() {
                let got = task(s, e).map(|(to, _)| to).ok();
                assert_eq!(got, expected_task(s, e), "{s} + {e:?}");
                allowed += usize::from(got.is_some());
            }
        }
        assert_eq!(allowed, 17, "the number of allowed transitions changed");
    }

    #[test]
    fn finishing_a_task_settles_its_request() {
        for e in [
            TaskEvent::Succeeded,
            TaskEvent::Failed {
                transient: false,
                attempts_left: true,
            },
            TaskEvent::Failed {
                transient: true,
                attempts_left: false,
            },
        ] {
            let (_, fx) = task(TaskStatus::Running, e).unwrap();
            assert!(fx.contains(&TaskEffect::SettleRequest), "{e:?}");
            assert!(fx.contains(&TaskEffect::RecordOutcome), "{e:?}");
        }
        let (_, fx) = task(
            TaskStatus::Running,
            TaskEvent::Failed {
                transient: true,
                attempts_left: true,
            },
        )
        .unwrap();
        assert_eq!(
            fx,
            vec![TaskEffect::ReleaseLease, TaskEffect::ScheduleRetry]
        );
    }

    #[test]
    fn a_task_waiting_on_a_person_is_neither_claimed_nor_settled() {
        use TaskStatus as T;
        let err = task(
            T::Waiting,
            TaskEvent::Claim {
                lease_expired: true,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("dsr task complete"), "{err}");
        let err = task(T::Pending, TaskEvent::Answered { done: true }).unwrap_err();
        assert!(err.to_string().contains("manual service"), "{err}");
        let (_, fx) = task(T::Running, TaskEvent::AwaitPerson).unwrap();
        assert!(!fx.contains(&TaskEffect::SettleRequest));
        let (_, fx) = task(T::Waiting, TaskEvent::Answered { done: false }).unwrap();
        assert_eq!(
            fx,
            vec![TaskEffect::RecordOutcome, TaskEffect::SettleRequest]
        );
        assert_eq!(settle(&[T::Done, T::Waiting]), None);
        assert!(!T::Waiting.is_finished() && !T::OPEN.contains(&T::Waiting));
    }

    #[test]
    fn settle_waits_for_every_task() {
        use TaskStatus as T;
        assert_eq!(settle(&[T::Done, T::Running]), None);
        assert_eq!(settle(&[T::Done, T::RetryWait]), None);
        assert_eq!(settle(&[T::Pending]), None);
        assert_eq!(
            settle(&[T::Done, T::Dead, T::Cancelled]),
            Some(RequestEvent::TasksSettled { done: 1, dead: 1 })
        );
        assert_eq!(
            settle(&[]),
            Some(RequestEvent::TasksSettled { done: 0, dead: 0 })
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1, 100, 10_000), 100);
        assert_eq!(backoff_ms(2, 100, 10_000), 200);
        assert_eq!(backoff_ms(4, 100, 10_000), 800);
        assert_eq!(backoff_ms(60, 100, 10_000), 10_000);
        assert_eq!(backoff_ms(0, 100, 10_000), 100);
    }
}
