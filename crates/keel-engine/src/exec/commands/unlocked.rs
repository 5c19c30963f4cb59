//! Commands served without the database's lock, while the dataset loads or another client's script holds
//! the database past `busy-reply-threshold` (Redis's `loading` and `allow_busy` commands). The gate
//! (`admission`) has admitted them; a command with an unlocked handler in the table runs it here, and an
//! admitted command without one is answered with the state's error (`LOADING`, `BUSY`). The locked
//! handlers of these commands call the same code, so each behaves one way in every state.

use super::{CmdError, CmdResult, Ctx};
use crate::exec::admission::ServerState;
use crate::exec::session::Session;
use crate::server::Server;
use crate::state::tenant::Tenant;
use keel_protocol::ReplyWriter;

/// What an unlocked handler works with: everything a handler has but the keyspace.
pub struct Unlocked<'a> {
    pub server: &'a Server,
    pub tenant: &'a Tenant,
    pub session: &'a mut Session,
    pub out: &'a mut ReplyWriter,
    pub state: ServerState,
}

/// A handler that needs no keyspace.
pub type UnlockedHandler = fn(&mut Unlocked, &[&[u8]]) -> CmdResult;

impl Unlocked<'_> {
    /// The error for what cannot be served in this state without the lock.
    pub fn state_error(&self) -> CmdError {
        match self.state {
            ServerState::Busy(busy) => CmdError(std::borrow::Cow::Borrowed(busy)),
            _ => CmdError(std::borrow::Cow::Borrowed("LOADING Redis is loading the dataset in memory")),
        }
    }
}

impl Ctx<'_> {
    /// This command's context without its keyspace, for the code locked and unlocked handlers share.
    pub fn unlocked(&mut self) -> Unlocked<'_> {
        Unlocked {
            server: self.server,
            tenant: self.tenant,
            session: &mut *self.session,
            out: &mut *self.out,
            state: ServerState::Ready,
        }
    }
}
