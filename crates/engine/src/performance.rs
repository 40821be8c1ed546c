//! What DescribeDBInstancePerformance reports: a server's counters read at one instant
//! ([`PerformanceSample`]), and the keys each engine answers for ([`PerformanceKey`]),
//! each a list of figures ([`Metric`]) computed from two consecutive samples.
//!
//! Servers count cumulatively (CPU time, transactions, blocks read); a rate is the
//! difference between two samples over the seconds between them. Where a counter went
//! down (the server restarted between the samples) the rate is 0 rather than a negative
//! or a guess. Gauges (connections, memory, disk) are the later sample's value.

/// A server's figures at one instant. Counters are cumulative since some start (the
/// server's, or its processes' for CPU time); gauges are the value now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerformanceSample {
    /// CPU time the instance's processes used, microseconds (counter).
    pub cpu_usec: u64,
    /// Memory the instance's processes hold now, bytes (gauge): the control group's
    /// working set, else the processes' resident memory.
    pub memory_bytes: u64,
    /// Client connections, and those of them running a statement now (gauges). openrds's
    /// own sampling connection is not counted.
    pub total_sessions: u64,
    pub active_sessions: u64,
    /// Statements and transactions (commits and rollbacks) executed (counters). On an
    /// engine that counts no statements (PostgreSQL without pg_stat_statements), `queries`
    /// is the transactions.
    pub queries: u64,
    pub transactions: u64,
    /// Reads and writes of data blocks or pages that reached storage (counters).
    pub io_reads: u64,
    pub io_writes: u64,
    /// Bytes received from and sent to clients (counters), where the engine counts them.
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Rows read, inserted, updated and deleted (counters).
    pub rows_read: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_deleted: u64,
    /// Statements by kind (counters), where the engine counts them (MariaDB `Com_*`).
    pub com_select: u64,
    pub com_insert: u64,
    pub com_insert_select: u64,
    pub com_update: u64,
    pub com_delete: u64,
    pub com_replace: u64,
    pub com_replace_select: u64,
    /// Bytes the data (all databases, as the engine measures them) and the rest of the
    /// instance's directory (logs, catalogs, configuration) take on disk (gauges).
    pub data_bytes: u64,
    pub other_bytes: u64,
}

/// One figure of a key, computed from a sample and the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU time used over the interval, as a percentage of the class's CPUs.
    CpuPercent,
    /// Memory held, as a percentage of the class's memory.
    MemoryPercent,
    ActiveSessions,
    TotalSessions,
    QueriesPerSecond,
    TransactionsPerSecond,
    /// Reads and writes reaching storage per second.
    Iops,
    ReceivedKBPerSecond,
    SentKBPerSecond,
    /// A counter's rate per second.
    Rate(Counter),
    /// Disk use, MB: everything, the data, the rest.
    TotalMB,
    DataMB,
    OtherMB,
    /// Disk use in bytes.
    TotalBytes,
    /// Figures the engine has no counterpart for here (temporary and system space kept
    /// apart on Alibaba's hosts): always 0.
    Zero,
}

/// The counters [`Metric::Rate`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    RowsRead,
    RowsInserted,
    RowsUpdated,
    RowsDeleted,
    ComSelect,
    ComInsert,
    ComInsertSelect,
    ComUpdate,
    ComDelete,
    ComReplace,
    ComReplaceSelect,
    IoReads,
    IoWrites,
}

impl Counter {
    fn of(self, s: &PerformanceSample) -> u64 {
        match self {
            Counter::RowsRead => s.rows_read,
            Counter::RowsInserted => s.rows_inserted,
            Counter::RowsUpdated => s.rows_updated,
            Counter::RowsDeleted => s.rows_deleted,
            Counter::ComSelect => s.com_select,
            Counter::ComInsert => s.com_insert,
            Counter::ComInsertSelect => s.com_insert_select,
            Counter::ComUpdate => s.com_update,
            Counter::ComDelete => s.com_delete,
            Counter::ComReplace => s.com_replace,
            Counter::ComReplaceSelect => s.com_replace_select,
            Counter::IoReads => s.io_reads,
            Counter::IoWrites => s.io_writes,
        }
    }
}

/// A key of DescribeDBInstancePerformance as Alibaba names it (`MySQL_QPSTPS`): its
/// unit, and its figures, whose names joined by `&` are its `ValueFormat` and whose
/// values joined the same way are each point's `Value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerformanceKey {
    pub name: &'static str,
    pub unit: &'static str,
    pub figures: &'static [(&'static str, Metric)],
}

impl PerformanceKey {
    pub fn value_format(&self) -> String {
        self.figures.iter().map(|(name, _)| *name).collect::<Vec<_>>().join("&")
    }

    /// The key's value at `now`, from the sample before (`prev`, `secs` earlier) and the
    /// class's CPUs and memory: figures joined by `&`.
    pub fn value(&self, prev: &PerformanceSample, now: &PerformanceSample, secs: f64, cpus: u32, memory_mb: u64) -> String {
        self.figures.iter().map(|(_, m)| format_figure(m.compute(prev, now, secs, cpus, memory_mb))).collect::<Vec<_>>().join("&")
    }
}

fn format_figure(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

const MB: f64 = 1024.0 * 1024.0;

impl Metric {
    pub fn compute(&self, prev: &PerformanceSample, now: &PerformanceSample, secs: f64, cpus: u32, memory_mb: u64) -> f64 {
        let rate = |a: u64, b: u64| if secs > 0.0 { b.saturating_sub(a) as f64 / secs } else { 0.0 };
        match self {
            Metric::CpuPercent => {
                let used = rate(prev.cpu_usec, now.cpu_usec) / 1e6;
                (used / f64::from(cpus.max(1)) * 100.0).min(100.0)
            }
            Metric::MemoryPercent => (now.memory_bytes as f64 / (memory_mb.max(1) as f64 * MB) * 100.0).min(100.0),
            Metric::ActiveSessions => now.active_sessions as f64,
            Metric::TotalSessions => now.total_sessions as f64,
            Metric::QueriesPerSecond => rate(prev.queries, now.queries),
            Metric::TransactionsPerSecond => rate(prev.transactions, now.transactions),
            Metric::Iops => rate(prev.io_reads, now.io_reads) + rate(prev.io_writes, now.io_writes),
            Metric::ReceivedKBPerSecond => rate(prev.bytes_received, now.bytes_received) / 1024.0,
            Metric::SentKBPerSecond => rate(prev.bytes_sent, now.bytes_sent) / 1024.0,
            Metric::Rate(c) => rate(c.of(prev), c.of(now)),
            Metric::TotalMB => (now.data_bytes + now.other_bytes) as f64 / MB,
            Metric::DataMB => now.data_bytes as f64 / MB,
            Metric::OtherMB => now.other_bytes as f64 / MB,
            Metric::TotalBytes => (now.data_bytes + now.other_bytes) as f64,
            Metric::Zero => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_samples_and_gauges_from_the_later() {
        let prev = PerformanceSample { cpu_usec: 1_000_000, queries: 100, transactions: 10, active_sessions: 9, ..Default::default() };
        let now = PerformanceSample { cpu_usec: 31_000_000, queries: 700, transactions: 70, active_sessions: 2, total_sessions: 5, memory_bytes: 512 << 20, ..Default::default() };
        let key = PerformanceKey {
            name: "K",
            unit: "%",
            figures: &[("cpu", Metric::CpuPercent), ("mem", Metric::MemoryPercent), ("qps", Metric::QueriesPerSecond), ("tps", Metric::TransactionsPerSecond), ("active", Metric::ActiveSessions)],
        };
        assert_eq!(key.value_format(), "cpu&mem&qps&tps&active");
        // 30 s of CPU in 60 s on 2 CPUs is 25%; 512 MiB of 2 GiB is 25%.
        assert_eq!(key.value(&prev, &now, 60.0, 2, 2048), "25&25&10&1&2");
        assert_eq!(Metric::QueriesPerSecond.compute(&prev, &now, 7.0, 1, 1), 600.0 / 7.0);
        assert_eq!(format_figure(600.0 / 7.0), "85.71");
    }

    #[test]
    fn a_counter_that_went_down_is_no_negative_rate() {
        let prev = PerformanceSample { queries: 1000, ..Default::default() };
        let now = PerformanceSample { queries: 3, ..Default::default() };
        assert_eq!(Metric::QueriesPerSecond.compute(&prev, &now, 60.0, 1, 1), 0.0);
    }
}
