//! The one worker pool of a copy's data step, whatever the engine: a bounded number of
//! workers, each with its own sessions, take jobs from one queue until none is left;
//! a job may queue follow-ups at the front (a loaded table's index builds and
//! verification), so they overlap with the streams still running. Jobs may name a lane:
//! two jobs of one lane never run at once (the server would make the second wait for the
//! first anyway), so a worker takes the first queued job whose lane is free instead of
//! waiting behind a busy one. The first error ends the pool: the other workers are
//! aborted (dropping their sessions, which ends any unfinished statement on the servers).

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

    /// The lane of `job`, if it has one: jobs of one lane run one at a time.
    fn lane(_job: &Self::Job) -> Option<String> {
        None
    }
}

/// The jobs of one pool, in the order they are taken.
pub struct JobQueue<J> {
    jobs: Mutex<Queued<J>>,
    lane: fn(&J) -> Option<String>,
    /// Jobs queued or running: a worker finding the queue empty waits while any runs,
    /// since it may queue follow-ups.
    outstanding: AtomicUsize,
    notify: Notify,
    first_done: AtomicBool,
}

struct Queued<J> {
    waiting: VecDeque<J>,
    /// Lanes with a job running.
    busy: Vec<String>,
}

impl<J> JobQueue<J> {
    fn new(jobs: VecDeque<J>, lane: fn(&J) -> Option<String>) -> Self {
        JobQueue {
            outstanding: AtomicUsize::new(jobs.len()),
            jobs: Mutex::new(Queued { waiting: jobs, busy: Vec::new() }),
            lane,
            notify: Notify::new(),
            first_done: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued<J>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first waiting job whose lane is free, its lane then marked busy.
    fn take(&self) -> Option<(J, Option<String>)> {
        let mut q = self.lock();
        let lanes: Vec<Option<String>> = q.waiting.iter().map(self.lane).collect();
        let at = lanes.iter().position(|l| l.as_ref().is_none_or(|l| !q.busy.contains(l)))?;
        let job = q.waiting.remove(at)?;
        let lane = lanes.into_iter().nth(at).flatten();
        if let Some(l) = &lane {
            q.busy.push(l.clone());
        }
        Some((job, lane))
    }

    /// Queues `jobs` ahead of everything waiting, in their order.
    pub fn push_front(&self, jobs: Vec<J>) {
        self.outstanding.fetch_add(jobs.len(), Ordering::SeqCst);
        let mut q = self.lock();
        for j in jobs.into_iter().rev() {
            q.waiting.push_front(j);
        }
        drop(q);
        self.notify.notify_waiters();
    }

    async fn next(&self) -> Option<(J, Option<String>)> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push or a finished job in between is not missed.
            notified.as_mut().enable();
            if let Some(taken) = self.take() {
                return Some(taken);
            }
            if self.outstanding.load(Ordering::SeqCst) == 0 {
                return None;
            }
            notified.await;
        }
    }

    /// Marks a job of `lane` finished, freeing its lane; true for the first one of the pool.
    fn done(&self, lane: Option<String>) -> bool {
        if let Some(lane) = lane {
            self.lock().busy.retain(|l| *l != lane);
        }
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
    let queue = Arc::new(JobQueue::new(jobs.into_iter().collect(), W::lane));
    let mut set = JoinSet::new();
    for mut worker in workers {
        let (queue, hooks) = (queue.clone(), hooks.clone());
        set.spawn(async move {
            while let Some((job, lane)) = queue.next().await {
                let result = worker.run(job, &queue).await;
                let first = queue.done(lane);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A job's lane and name with the moments it began and ended, counted over the pool.
    type Ran = (Option<&'static str>, &'static str, usize, usize);

    struct Recorder {
        clock: Arc<AtomicUsize>,
        log: Arc<Mutex<Vec<Ran>>>,
    }

    #[async_trait]
    impl Worker for Recorder {
        type Job = (Option<&'static str>, &'static str);

        async fn run(&mut self, job: Self::Job, _queue: &JobQueue<Self::Job>) -> Result<()> {
            let began = self.clock.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let ended = self.clock.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push((job.0, job.1, began, ended));
            Ok(())
        }

        fn lane(job: &Self::Job) -> Option<String> {
            job.0.map(str::to_string)
        }
    }

    #[tokio::test]
    async fn jobs_of_one_lane_never_overlap_and_free_ones_go_ahead() {
        let (clock, log) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let workers = (0..3).map(|_| Recorder { clock: clock.clone(), log: log.clone() }).collect();
        let jobs = vec![(Some("t"), "t1"), (Some("t"), "t2"), (Some("t"), "t3"), (Some("u"), "u1"), (None, "free")];
        let hooks = Hooks::new(&crate::CopyOptions::default(), &tokio_util::sync::CancellationToken::new());
        run(jobs, workers, &hooks).await.unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 5);
        for a in log.iter().filter(|a| a.0.is_some()) {
            for b in log.iter().filter(|b| b.1 != a.1 && b.0 == a.0) {
                assert!(a.3 < b.2 || b.3 < a.2, "{} and {} of one lane overlapped: {log:?}", a.1, b.1);
            }
        }
        // The three workers began t1, u1 and the free job, not t2 behind t1.
        let mut first: Vec<&str> = log.iter().filter(|e| e.2 < 3).map(|e| e.1).collect();
        first.sort();
        assert_eq!(first, ["free", "t1", "u1"], "{log:?}");
    }
}
