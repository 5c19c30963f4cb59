//! What reaches the log (and, next, replicas) for a command that changed the dataset: the form its handler
//! chose where it made the change (`Ctx::propagate`: relative TTLs made absolute, float increments made
//! the values they produced, blocking pops made the pops they amounted to, random picks made the members
//! picked), or else its own arguments, when replaying them gives the same result whenever they are
//! replayed. Nothing here knows a command by name.

use crate::exec::commands::{flags, Command};
use crate::state::tenant::Keyspace;

/// Records in the log what the command that just ran in `db` did (called only when the log is on).
pub fn after_command(ks: &mut Keyspace, db: usize, command: &Command, args: &[&[u8]], dirty_before: u64) {
    if let Some(bytes) = ks.log.take_rewritten() {
        ks.log.encoded(db, &bytes);
    } else if command.has(flags::WRITE) && ks.dirty != dirty_before {
        ks.log.command(db, args);
    }
}
