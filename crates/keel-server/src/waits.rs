//! What a connection waits for besides its input, off the hot path: a blocking command's reply (reading the
//! socket meanwhile, so that a client that leaves gives up its claim), and what WAIT, WAITAOF and a SYNC
//! flush wait for before they answer.

use bytes::BytesMut;
use keel_engine::clients::ClientInfo;
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use keel_protocol::ReplyWriter;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// Waits for a blocking command's reply (Some(Some)) or its deadline (Some(None)), still reading the socket:
/// a client that disconnects while blocked must give up its claim (None, as when it is killed or the server
/// stops), and commands it pipelines meanwhile are kept for later.
pub(crate) async fn wait_blocked<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    input: &mut BytesMut,
    server: &Server,
    info: &ClientInfo,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    reply: &mut oneshot::Receiver<Vec<u8>>,
    deadline: Option<tokio::time::Instant>,
) -> Option<Option<Vec<u8>>> {
    loop {
        tokio::select! {
            biased;
            _ = info.killed() => return None,
            _ = keel_engine::server::stopping(shutdown) => return None,
            served = &mut *reply => return Some(served.ok()),
            _ = sleep_until_deadline(deadline) => return Some(None),
            read = stream.read_buf(input) => match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            },
        }
    }
}

/// What WAIT, WAITAOF and a SYNC flush wait for.
pub(crate) enum Waiting {
    /// WAIT: `replicas` replicas acknowledged `offset`.
    Replicas { offset: u64, replicas: u64 },
    /// WAITAOF: the local log and replicas' logs fsynced.
    Aof(keel_engine::exec::session::AofWait),
    /// FLUSHALL/FLUSHDB SYNC: what the flush took out freed (its reply is already written).
    Freed(keel_engine::lazyfree::FreeDone),
}

/// Waits for what `waiting` names, or the deadline, and writes the command's reply: WAIT's count of
/// replicas, WAITAOF's pair (local log fsynced, replicas fsynced); a flush's was written as it ran.
pub(crate) async fn wait_and_reply(
    tenant: &Tenant,
    waiting: Waiting,
    deadline: Option<tokio::time::Instant>,
    out: &mut ReplyWriter,
) {
    match waiting {
        Waiting::Replicas { offset, replicas } => {
            let measure = || {
                let acked = tenant.replication.acknowledged(offset);
                (acked, acked as u64 >= replicas)
            };
            // An acknowledgement may land between the count and the wait: look again now and then.
            let acked = wait_for_acks(tenant, true, deadline, Duration::from_millis(100), measure).await;
            out.int(acked as i64);
        }
        Waiting::Aof(wait) => {
            let measure = || {
                let (local, replicas) = keel_engine::exec::commands::replication::aof_acks(tenant, &wait);
                ((local, replicas), wait.met(local, replicas))
            };
            // The log fsyncs on its own schedule (`appendfsync`): the local side is looked at often.
            let asks = wait.replicas > 0;
            let (local, replicas) = wait_for_acks(tenant, asks, deadline, Duration::from_millis(10), measure).await;
            out.array(2);
            out.int(local as i64);
            out.int(replicas as i64);
        }
        Waiting::Freed(done) => done.wait().await,
    }
}

/// Asks the replicas for acknowledgements (when `ask_replicas`), then measures until the measure says it is
/// met, looking again at each acknowledgement and every `poll`; at the deadline, the last measure.
async fn wait_for_acks<T>(
    tenant: &Tenant,
    ask_replicas: bool,
    deadline: Option<tokio::time::Instant>,
    poll: Duration,
    measure: impl Fn() -> (T, bool),
) -> T {
    if ask_replicas {
        tenant.persistence.stream.append(keel_engine::replication::GETACK);
    }
    let mut waiting = std::pin::pin!(sleep_until_deadline(deadline));
    loop {
        let (measured, met) = measure();
        if met {
            return measured;
        }
        let notified = tenant.replication.acks.notified();
        tokio::select! {
            _ = notified => {}
            _ = &mut waiting => return measure().0,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

async fn sleep_until_deadline(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
