//! A database's backup or restore, as the admin API reports it while it runs and after it ends: one at a
//! time per database (a second is refused while one runs), with its progress in bytes for a terminal's
//! progress line.

use parking_lot::Mutex;

/// One backup or restore.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `backup` or `restore`.
    pub kind: &'static str,
    /// The backup it writes or reads.
    pub backup_id: String,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// Bytes done, of `total` (0 when not known ahead).
    pub done: u64,
    pub total: u64,
    /// Keys restored, once a restore ends.
    pub keys: Option<u64>,
    pub error: Option<String>,
}

/// The database's current or last operation.
#[derive(Default)]
pub struct Operations(Mutex<Option<Operation>>);

impl Operations {
    /// Starts `operation` unless another one runs; the running one's kind otherwise.
    pub fn begin(&self, operation: Operation) -> Result<(), &'static str> {
        let mut current = self.0.lock();
        if let Some(running) = current.as_ref().filter(|o| o.finished_ms.is_none()) {
            return Err(running.kind);
        }
        *current = Some(operation);
        Ok(())
    }

    pub fn progress(&self, done: u64) {
        if let Some(o) = self.0.lock().as_mut() {
            o.done = done;
        }
    }

    /// Ends the running operation with its outcome.
    pub fn finish(&self, outcome: Result<Option<u64>, String>) {
        if let Some(o) = self.0.lock().as_mut() {
            o.finished_ms = Some(crate::clock::unix_ms());
            match outcome {
                Ok(keys) => {
                    o.keys = keys;
                    o.done = o.done.max(o.total);
                }
                Err(e) => o.error = Some(e),
            }
        }
    }

    pub fn current(&self) -> Option<Operation> {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore() -> Operation {
        Operation {
            kind: "restore",
            backup_id: "b".into(),
            started_ms: 1,
            finished_ms: None,
            done: 0,
            total: 10,
            keys: None,
            error: None,
        }
    }

    #[test]
    fn one_operation_at_a_time_and_its_outcome_is_kept() {
        let ops = Operations::default();
        assert_eq!(ops.begin(restore()), Ok(()));
        assert_eq!(ops.begin(restore()), Err("restore"), "a second one waits for the first to end");
        ops.progress(4);
        assert_eq!(ops.current().map(|o| o.done), Some(4));
        ops.finish(Ok(Some(3)));
        let done = ops.current().unwrap();
        assert_eq!((done.done, done.keys, done.error), (10, Some(3), None));
        assert_eq!(ops.begin(restore()), Ok(()), "the next may start once it ended");
        ops.finish(Err("no such file".into()));
        assert_eq!(ops.current().unwrap().error.as_deref(), Some("no such file"));
    }
}
