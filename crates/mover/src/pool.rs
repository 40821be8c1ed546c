//! The one worker pool of a copy's data step, whatever the engine: a bounded number of
//! workers, each with its own sessions, take jobs from one queue until none is left;
//! a job may queue follow-ups at the front (a loaded table's index builds and
//! verification), so they overlap with the streams still running. Jobs may name a
//! [`Lane`] (say, the table they load): a worker takes the first queued job whose lane is
//! free, and joins a busy lane only when no other job is waiting and the lane may be
//! shared, so jobs on different objects run side by side before jobs contending for one.
//! The first error ends the pool: the other workers are aborted (dropping their
//! sessions, which ends any unfinished statement on the servers).

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

    /// The lane of `job`, if it has one.
    fn lane(_job: &Self::Job) -> Option<Lane> {
        None
    }
}

/// Jobs that work on one thing (a table): they run one at a time while jobs of free lanes
/// are waiting, and never side by side unless `shareable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub name: String,
    /// Whether two jobs of the lane may run at once (slower per job than jobs of
    /// different lanes, faster than leaving a worker idle); false where the server would
    /// only make the second wait for the first.
    pub shareable: bool,
}

/// The jobs of one pool, in the order they are taken.
pub struct JobQueue<J> {
    jobs: Mutex<Queued<J>>,
    lane: fn(&J) -> Option<Lane>,
    /// Jobs queued or running: a worker finding the queue empty waits while any runs,
    /// since it may queue follow-ups.
    outstanding: AtomicUsize,
    notify: Notify,
    first_done: AtomicBool,
}

struct Queued<J> {
    waiting: VecDeque<J>,
    /// A name for each job running in a lane.
    busy: Vec<String>,
}

impl<J> JobQueue<J> {
    fn new(jobs: VecDeque<J>, lane: fn(&J) -> Option<Lane>) -> Self {
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

    /// The first waiting job whose lane is free, else the first whose lane may be shared;
    /// its lane is then marked busy once more.
    fn take(&self) -> Option<(J, Option<String>)> {
        let mut q = self.lock();
        let lanes: Vec<Option<Lane>> = q.waiting.iter().map(self.lane).collect();
        let at = lanes
            .iter()
            .position(|l| l.as_ref().is_none_or(|l| !q.busy.contains(&l.name)))
            .or_else(|| lanes.iter().position(|l| l.as_ref().is_some_and(|l| l.shareable)))?;
        let job = q.waiting.remove(at)?;
        let lane = lanes.into_iter().nth(at).flatten().map(|l| l.name);
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
            let mut q = self.lock();
            if let Some(at) = q.busy.iter().position(|l| *l == lane) {
                q.busy.swap_remove(at);
            }
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
        /// (lane, whether it may be shared, name)
        type Job = (Option<&'static str>, bool, &'static str);

        async fn run(&mut self, job: Self::Job, _queue: &JobQueue<Self::Job>) -> Result<()> {
            let began = self.clock.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let ended = self.clock.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push((job.0, job.2, began, ended));
            Ok(())
        }

        fn lane(job: &Self::Job) -> Option<Lane> {
            job.0.map(|name| Lane { name: name.to_string(), shareable: job.1 })
        }
    }

    async fn run_recorded(workers: usize, jobs: Vec<<Recorder as Worker>::Job>) -> Vec<Ran> {
        let (clock, log) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let workers = (0..workers).map(|_| Recorder { clock: clock.clone(), log: log.clone() }).collect();
        let hooks = Hooks::new(&crate::CopyOptions::default(), &tokio_util::sync::CancellationToken::new());
        run(jobs, workers, &hooks).await.unwrap();
        let log = log.lock().unwrap().clone();
        log
    }

    /// The names of the jobs that began before any ended, sorted.
    fn first_wave(log: &[Ran], workers: usize) -> Vec<&'static str> {
        let mut first: Vec<&str> = log.iter().filter(|e| e.2 < workers).map(|e| e.1).collect();
        first.sort();
        first
    }

    #[tokio::test]
    async fn jobs_of_an_unshareable_lane_never_overlap_and_free_ones_go_ahead() {
        let jobs = vec![(Some("t"), false, "t1"), (Some("t"), false, "t2"), (Some("t"), false, "t3"), (Some("u"), false, "u1"), (None, false, "free")];
        let log = run_recorded(3, jobs).await;
        assert_eq!(log.len(), 5);
        for a in log.iter().filter(|a| a.0.is_some()) {
            for b in log.iter().filter(|b| b.1 != a.1 && b.0 == a.0) {
                assert!(a.3 < b.2 || b.3 < a.2, "{} and {} of one lane overlapped: {log:?}", a.1, b.1);
            }
        }
        // The three workers began t1, u1 and the free job, not t2 behind t1.
        assert_eq!(first_wave(&log, 3), ["free", "t1", "u1"], "{log:?}");
    }

    #[tokio::test]
    async fn a_shareable_lane_is_joined_only_when_nothing_else_waits() {
        let jobs = vec![(Some("t"), true, "t1"), (Some("t"), true, "t2"), (Some("u"), true, "u1"), (Some("t"), true, "t3")];
        // u1 goes before t2 ...
        let log = run_recorded(2, jobs.clone()).await;
        assert_eq!(first_wave(&log, 2), ["t1", "u1"], "{log:?}");
        // ... and a third worker joins t rather than idling.
        let log = run_recorded(3, jobs).await;
        assert_eq!(first_wave(&log, 3), ["t1", "t2", "u1"], "{log:?}");
    }
}
