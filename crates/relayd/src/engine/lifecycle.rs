//! The child's side of a configuration rollout, as a state machine without
//! I/O: which configuration is being collected, which one is prepared, and
//! what each lifecycle message means in that state. The runtime feeds it
//! the parent's messages and calls the engine where it says so.
//!
//! ```text
//! Idle --Reset{g}--> Collecting{g} --ConfigDone--> prepare: Accepted -> Prepared{g}
//!                                                           Refused  -> Idle
//! Prepared{g} --Start{g}--> commit -> Idle      Prepared{g} --Abort{g}--> Idle
//! ```
//!
//! "Idle" means no rollout in progress; the engine goes on running what it
//! committed last. A `Reset` while a configuration is prepared supersedes
//! it (it is handed back to be aborted). `Abort` when nothing is prepared
//! is fine: it follows this child's own refusal.

use super::error::LifecycleError;
use relayd_config::Config;
use relayd_proto::messages::{Generation, Refusal, Verdict};
use relayd_proto::{ConfigAssembler, ConfigPart};

enum Stage<P> {
    Idle,
    Collecting {
        generation: Generation,
        assembler: Box<ConfigAssembler>,
    },
    /// Prepared: `prepared` is `None` only between `config_done` and
    /// `prepared`.
    Prepared {
        generation: Generation,
        prepared: Option<P>,
    },
}

/// Where a child is in the rollout of its configurations.
pub struct Rollout<P> {
    stage: Stage<P>,
}

impl<P> Default for Rollout<P> {
    fn default() -> Self {
        Rollout { stage: Stage::Idle }
    }
}

impl<P> Rollout<P> {
    fn stage_name(&self) -> &'static str {
        match self.stage {
            Stage::Idle => "no configuration was being sent",
            Stage::Collecting { .. } => "a configuration was being sent",
            Stage::Prepared { .. } => "a configuration was prepared",
        }
    }

    fn unexpected(&self, message: &'static str) -> LifecycleError {
        LifecycleError::Unexpected {
            message,
            stage: self.stage_name(),
        }
    }

    /// `Reset{generation}`: collecting starts over. Returns a prepared
    /// configuration this supersedes, for the engine to abort.
    pub fn reset(&mut self, generation: Generation) -> Option<P> {
        let superseded = std::mem::replace(
            &mut self.stage,
            Stage::Collecting {
                generation,
                assembler: Box::default(),
            },
        );
        match superseded {
            Stage::Prepared { prepared, .. } => prepared,
            Stage::Idle | Stage::Collecting { .. } => None,
        }
    }

    /// `Config(part)`.
    pub fn add(&mut self, part: ConfigPart) -> Result<(), LifecycleError> {
        match &mut self.stage {
            Stage::Collecting { assembler, .. } => {
                assembler.add(part);
                Ok(())
            }
            _ => Err(self.unexpected("a configuration part")),
        }
    }

    /// `ConfigDone`: the configuration to prepare, and its generation.
    /// Follow with [`Rollout::prepared`].
    pub fn config_done(&mut self) -> Result<(Generation, Config), LifecycleError> {
        match &mut self.stage {
            Stage::Collecting {
                generation,
                assembler,
            } => {
                let generation = *generation;
                let config = assembler.finish();
                self.stage = Stage::Prepared {
                    generation,
                    prepared: None,
                };
                Ok((generation, config))
            }
            _ => Err(self.unexpected("ConfigDone")),
        }
    }

    /// What the engine made of the configuration; the verdict to answer.
    pub fn prepared(&mut self, outcome: Result<P, Refusal>) -> Verdict {
        match outcome {
            Ok(ready) => {
                if let Stage::Prepared { prepared, .. } = &mut self.stage {
                    *prepared = Some(ready);
                }
                Verdict::Accepted
            }
            Err(refusal) => {
                self.stage = Stage::Idle;
                Verdict::Refused(refusal)
            }
        }
    }

    /// `Start{generation}`: the configuration to commit.
    pub fn start(&mut self, generation: Generation) -> Result<P, LifecycleError> {
        match self.take_prepared("Start", generation)? {
            Some(prepared) => Ok(prepared),
            None => Err(self.unexpected("Start")),
        }
    }

    /// `Abort{generation}`: the prepared configuration to drop, if any.
    pub fn abort(&mut self, generation: Generation) -> Result<Option<P>, LifecycleError> {
        self.take_prepared("Abort", generation)
    }

    /// Ends the rollout of `generation` for `message`: its prepared
    /// configuration, or `None` when none is prepared. A message for
    /// another generation, or one while collecting, changes nothing.
    fn take_prepared(
        &mut self,
        message: &'static str,
        generation: Generation,
    ) -> Result<Option<P>, LifecycleError> {
        match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Idle => Ok(None),
            Stage::Prepared {
                generation: prepared_generation,
                prepared,
            } if prepared_generation == generation => Ok(prepared),
            Stage::Prepared {
                generation: prepared_generation,
                prepared,
            } => {
                self.stage = Stage::Prepared {
                    generation: prepared_generation,
                    prepared,
                };
                Err(LifecycleError::WrongGeneration {
                    message,
                    expected: prepared_generation,
                    got: generation,
                })
            }
            collecting @ Stage::Collecting { .. } => {
                self.stage = collecting;
                Err(self.unexpected(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_config::Global;

    fn global(prefork: u32) -> ConfigPart {
        ConfigPart::Global(Global {
            prefork,
            ..Global::default()
        })
    }

    /// Collects a config whose `prefork` says which one it is.
    fn collect(rollout: &mut Rollout<u32>, generation: Generation, prefork: u32) -> Config {
        assert_eq!(rollout.reset(generation), None);
        rollout.add(global(prefork)).unwrap();
        let (got, config) = rollout.config_done().unwrap();
        assert_eq!(got, generation);
        config
    }

    #[test]
    fn accepted_then_started() {
        let mut rollout = Rollout::default();
        let config = collect(&mut rollout, 1, 4);
        assert_eq!(config.global.prefork, 4);
        assert_eq!(rollout.prepared(Ok(4)), Verdict::Accepted);
        assert_eq!(rollout.start(1), Ok(4));
        // Back to idle: another Start is a parent bug.
        assert!(matches!(
            rollout.start(1),
            Err(LifecycleError::Unexpected { .. })
        ));
    }

    #[test]
    fn aborted_configuration_is_handed_back_and_nothing_is_left() {
        let mut rollout = Rollout::default();
        collect(&mut rollout, 1, 4);
        assert_eq!(rollout.prepared(Ok(4)), Verdict::Accepted);
        assert_eq!(rollout.abort(1), Ok(Some(4)));
        assert!(rollout.start(1).is_err(), "nothing to start after Abort");
    }

    #[test]
    fn a_refusal_answers_why_and_the_abort_that_follows_is_fine() {
        let mut rollout: Rollout<u32> = Rollout::default();
        collect(&mut rollout, 2, 9);
        let refusal = Refusal::Redirections {
            reason: "no".into(),
        };
        assert_eq!(
            rollout.prepared(Err(refusal.clone())),
            Verdict::Refused(refusal)
        );
        assert_eq!(rollout.abort(2), Ok(None));
        assert!(rollout.start(2).is_err());
    }

    #[test]
    fn a_reset_supersedes_a_prepared_configuration() {
        let mut rollout = Rollout::default();
        collect(&mut rollout, 1, 4);
        assert_eq!(rollout.prepared(Ok(4)), Verdict::Accepted);
        assert_eq!(rollout.reset(2), Some(4));
        rollout.add(global(5)).unwrap();
        let (generation, _) = rollout.config_done().unwrap();
        assert_eq!(rollout.prepared(Ok(5)), Verdict::Accepted);
        assert_eq!(rollout.start(generation), Ok(5));
    }

    #[test]
    fn messages_out_of_order_are_errors_that_keep_the_state() {
        let mut rollout: Rollout<u32> = Rollout::default();
        assert!(rollout.add(global(1)).is_err(), "a part without Reset");
        assert!(rollout.config_done().is_err(), "ConfigDone without Reset");
        collect(&mut rollout, 3, 1);
        assert_eq!(rollout.prepared(Ok(1)), Verdict::Accepted);
        assert_eq!(
            rollout.start(2),
            Err(LifecycleError::WrongGeneration {
                message: "Start",
                expected: 3,
                got: 2
            })
        );
        assert!(rollout.abort(4).is_err());
        assert_eq!(rollout.start(3), Ok(1), "still prepared after the errors");
        rollout.reset(4);
        assert!(rollout.abort(4).is_err(), "Abort before ConfigDone");
    }
}
