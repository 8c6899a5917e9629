//! The write path. Every business write is one transaction that also appends its audit entry.
//! On SQLite one task owns the only write connection and commits concurrent jobs in batches
//! (group commit): each job runs inside a savepoint, so a failing job rolls back alone, and
//! every job in a batch is acknowledged only after the batch's durable COMMIT. The SQLite writer
//! runs on its own OS thread (its own single-threaded runtime), so that its many short statement
//! round trips never wait behind request tasks on the shared runtime, and it appends the audit
//! entries of a whole batch at once.
use crate::{Backend, Notification, StoreError};
use futures::future::BoxFuture;
use onestop_domain::audit::AuditKey;
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An open write transaction handed to a write job.
pub struct Tx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) backend: Backend,
    pub(crate) audit_key: Arc<AuditKey>,
    pub(crate) notes: Vec<Notification>,
    /// Audit entries recorded by the jobs of this transaction, appended just before COMMIT.
    pub(crate) audit_pending: Vec<crate::audit::AuditEntry>,
}

impl Tx {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }
    /// Queues a live notification, published only if this transaction commits.
    pub async fn notify(&mut self, channel: &str, payload: String) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            // NOTIFY is transactional in PostgreSQL: other processes see it only on commit.
            // One PostgreSQL channel carries every logical channel, so one LISTEN per process
            // serves them all (see `listen.rs`).
            let wire = serde_json::json!({"channel": channel, "payload": payload}).to_string();
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::listen::PG_CHANNEL)
                .bind(wire)
                .execute(&mut *self.tx)
                .await?;
        }
        self.notes.push(Notification {
            channel: channel.to_owned(),
            payload,
        });
        Ok(())
    }
}

type Completion = Box<dyn FnOnce(Result<Vec<Notification>, StoreError>) + Send>;

trait WriteJob: Send {
    /// Runs the job; on success returns how to acknowledge it once the commit is known.
    fn run<'c>(self: Box<Self>, tx: &'c mut Tx) -> BoxFuture<'c, Option<Completion>>;
    /// Fails the job without running it.
    fn abort(self: Box<Self>, err: StoreError);
}

type Reply<T, E> = oneshot::Sender<Result<(T, Vec<Notification>), E>>;

struct FnJob<F, T, E> {
    f: F,
    reply: Reply<T, E>,
}

impl<F, T, E> WriteJob for FnJob<F, T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, tx: &'c mut Tx) -> BoxFuture<'c, Option<Completion>> {
        let FnJob { f, reply } = *self;
        Box::pin(async move {
            match f(tx).await {
                Ok(value) => Some(Box::new(move |commit: Result<Vec<Notification>, StoreError>| {
                    let _ = reply.send(commit.map(|notes| (value, notes)).map_err(E::from));
                }) as Completion),
                Err(e) => {
                    let _ = reply.send(Err(e));
                    None
                }
            }
        })
    }
    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(E::from(err)));
    }
}

pub(crate) struct Writer {
    backend: Backend,
    pool: AnyPool,
    audit_key: Arc<AuditKey>,
    queue: Option<mpsc::Sender<Box<dyn WriteJob>>>,
}

impl Writer {
    pub(crate) fn start(backend: Backend, pool: AnyPool, max_batch: usize, audit_key: Arc<AuditKey>) -> Self {
        let queue = match backend {
            Backend::Sqlite => {
                let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>(max_batch * 8);
                let (p, key) = (pool.clone(), audit_key.clone());
                let spawned = std::thread::Builder::new()
                    .name("onestop-writer".into())
                    .spawn(
                        move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(rt) => rt.block_on(run_batches(p, rx, max_batch, key)),
                            // Without a runtime the receiver drops here and every write fails
                            // with WriterStopped: loud, and nothing is half-written.
                            Err(e) => tracing::error!(error = %e, "cannot start the writer thread's runtime"),
                        },
                    );
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start the writer thread");
                }
                Some(tx)
            }
            Backend::Postgres => None,
        };
        Self {
            backend,
            pool,
            audit_key,
            queue,
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) async fn submit<T, E, F>(&self, f: F) -> Result<(T, Vec<Notification>), E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut Tx) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(FnJob { f, reply });
        match &self.queue {
            Some(queue) => {
                if let Err(mpsc::error::SendError(job)) = queue.send(job).await {
                    job.abort(StoreError::WriterStopped);
                }
            }
            None => {
                // PostgreSQL: each job is its own transaction on a pooled connection. Run it on
                // its own task so that a dropped request cannot leave it half-done.
                let pool = self.pool.clone();
                let key = self.audit_key.clone();
                let backend = self.backend;
                let handle = tokio::spawn(async move {
                    let tx = match pool.begin().await {
                        Ok(tx) => tx,
                        Err(e) => return job.abort(e.into()),
                    };
                    let mut tx = Tx {
                        tx,
                        backend,
                        audit_key: key,
                        notes: Vec::new(),
                        audit_pending: Vec::new(),
                    };
                    if let Some(done) = job.run(&mut tx).await {
                        let notes = std::mem::take(&mut tx.notes);
                        if let Err(e) = crate::audit::flush_audit(&mut tx).await {
                            let _ = tx.tx.rollback().await;
                            return done(Err(e));
                        }
                        match tx.tx.commit().await {
                            Ok(()) => done(Ok(notes)),
                            Err(e) => done(Err(e.into())),
                        }
                    }
                });
                let _ = handle.await;
            }
        }
        answer.await.unwrap_or_else(|_| Err(E::from(StoreError::WriterStopped)))
    }
}

async fn run_batches(
    pool: AnyPool,
    mut rx: mpsc::Receiver<Box<dyn WriteJob>>,
    max_batch: usize,
    audit_key: Arc<AuditKey>,
) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut batch, max_batch).await == 0 {
            return; // every sender is gone: shutting down
        }
        let jobs = std::mem::take(&mut batch);
        commit_batch(&pool, jobs, &audit_key).await;
    }
}

async fn commit_batch(pool: &AnyPool, jobs: Vec<Box<dyn WriteJob>>, audit_key: &Arc<AuditKey>) {
    let tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in jobs {
                job.abort(StoreError::Database(sqlx::Error::Protocol(msg.clone())));
            }
            return;
        }
    };
    let mut tx = Tx {
        tx,
        backend: Backend::Sqlite,
        audit_key: audit_key.clone(),
        notes: Vec::new(),
        audit_pending: Vec::new(),
    };
    let single = jobs.len() == 1;
    let mut done: Vec<(Completion, Vec<Notification>)> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    let mut broken: Option<String> = None;
    for job in jobs.by_ref() {
        let audit_mark = tx.audit_pending.len();
        if !single && let Err(e) = tx.tx.execute("SAVEPOINT job").await {
            broken = Some(e.to_string());
            job.abort(StoreError::Database(e));
            break;
        }
        match job.run(&mut tx).await {
            Some(ack) => {
                if !single && let Err(e) = tx.tx.execute("RELEASE SAVEPOINT job").await {
                    broken = Some(e.to_string());
                    ack(Err(StoreError::Database(e)));
                    break;
                }
                let notes = std::mem::take(&mut tx.notes);
                done.push((ack, notes));
            }
            None => {
                tx.notes.clear();
                tx.audit_pending.truncate(audit_mark);
                if single {
                    break;
                }
                // The job's error was already reported; undo only its writes.
                let undo = tx.tx.execute("ROLLBACK TO SAVEPOINT job").await;
                let release = tx.tx.execute("RELEASE SAVEPOINT job").await;
                if let Err(e) = undo.and(release) {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
    }
    if broken.is_none()
        && !done.is_empty()
        && let Err(e) = crate::audit::flush_audit(&mut tx).await
    {
        broken = Some(e.to_string());
    }
    if let Some(msg) = broken {
        // The transaction cannot be trusted any more: fail every job that is part of it.
        let _ = tx.tx.rollback().await;
        for (ack, _) in done {
            ack(Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))));
        }
        for job in jobs {
            job.abort(StoreError::Database(sqlx::Error::Protocol(msg.clone())));
        }
        return;
    }
    if single && done.is_empty() {
        let _ = tx.tx.rollback().await;
        return;
    }
    match tx.tx.commit().await {
        Ok(()) => {
            for (ack, notes) in done {
                ack(Ok(notes));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for (ack, _) in done {
                ack(Err(StoreError::Database(sqlx::Error::Protocol(msg.clone()))));
            }
        }
    }
}
