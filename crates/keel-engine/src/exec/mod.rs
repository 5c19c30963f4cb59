//! Running commands: the gate every command passes (`admission`), the batch every transport drives
//! (`batch`), one command's run with all it feeds (`dispatch`), the command table and the commands
//! themselves (`commands`), the connection's own state (`session`), and Lua scripts and functions, which
//! run commands in turn (`scripting`).

pub mod admission;
pub mod batch;
pub mod commands;
pub mod dispatch;
pub mod pausing;
pub mod scripting;
pub mod session;
