//! The one worker pool of a copy's data step, whatever the engine: a bounded number of
//! workers, each with its own sessions, take jobs from one queue until none is left;
//! a job may queue follow-ups at the front (a loaded table's index builds and
//! verification), so they overlap with the streams still running. The first error ends
//! the pool: the other workers are aborted (dropping their sessions, which ends any
//! unfinished statement on the servers).

use crate::error::{MoveError, Result};
use crate::hooks::Hooks;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// One worker of the pool, with whatever sessions it keeps between jobs.
#[async_trait]
pub trait Worker: Send + 'static {
    type Job: Send + 'static;

    /// Runs `job`; follow-ups go to `queue` ([`JobQueue::push_front`]).
    async fn run(&mut self, job: Self::Job, queue: &JobQueue<Self::Job>) -> Result<()>;
}

/// The jobs of one pool, in the order they are taken.
pub struct JobQueue<J> {
    jobs: Mutex<VecDeque<J>>,
    /// Jobs queued or running: a worker finding the queue empty waits while any runs,
    /// since it may queue follow-ups.
    outstanding: AtomicUsize,
    notify: Notify,
    first_done: AtomicBool,
}

impl<J> JobQueue<J> {
    fn new(jobs: VecDeque<J>) -> Self {
        JobQueue { outstanding: AtomicUsize::new(jobs.len()), jobs: Mutex::new(jobs), notify: Notify::new(), first_done: AtomicBool::new(false) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<J>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `jobs` ahead of everything waiting, in their order.
    pub fn push_front(&self, jobs: Vec<J>) {
        self.outstanding.fetch_add(jobs.len(), Ordering::SeqCst);
        let mut q = self.lock();
        for j in jobs.into_iter().rev() {
            q.push_front(j);
        }
        drop(q);
        self.notify.notify_waiters();
    }

    async fn next(&self) -> Option<J> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push in between is not missed.
            notified.as_mut().enable();
            if let Some(j) = self.lock().pop_front() {
                return Some(j);
            }
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return None;
            }
            notified.await;
        }
    }

    /// Marks a job finished; true for the first one of the pool.
    fn done(&self) -> bool {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.notify.notify_waiters();
        !self.first_done.swap(true, Ordering::SeqCst)
    }
}

/// Runs `jobs` on `workers` until every job, and every follow-up they queue, is done.
/// The `during_data` failpoint fires once the first job has finished.
pub async fn run<W: Worker>(jobs: impl IntoIterator<Item = W::Job>, workers: Vec<W>, hooks: &Hooks) -> Result<()> {
    if workers.is_empty() {
        return Err(MoveError::Internal("a worker pool without workers".into()));
    }
    let queue = Arc::new(JobQueue::new(jobs.into_iter().collect()));
    let mut set = JoinSet::new();
    for mut worker in workers {
        let (queue, hooks) = (queue.clone(), hooks.clone());
        set.spawn(async move {
            while let Some(job) = queue.next().await {
                let result = worker.run(job, &queue).await;
                let first = queue.done();
                result?;
                if first {
                    hooks.fail("during_data")?;
                }
            }
            Ok::<_, MoveError>(())
        });
    }
    while let Some(joined) = set.join_next().await {
        // The first error ends the pool: dropping the set aborts the other workers.
        joined.map_err(|e| MoveError::Internal(format!("a copy worker stopped: {e}")))??;
    }
    Ok(())
}
