internal import Foundation

/// The writers of one process to one file, served first come, first served.
///
/// SQLite has one write lock per file, and a connection that finds it taken sleeps in its busy
/// handler and tries again later. A writer that commits back to back (the service's intake, under
/// load) frees the lock for a moment between two transactions, and a writer that sleeps while it
/// is taken (the live engine) seldom finds it free: under a steady load the engine's run failed
/// with "database is locked" after its ten-second timeout (tools/results/serve-load.md).
/// Connections that share one `WriterTurns` queue in the process instead, in the order they asked,
/// and each goes to SQLite's lock only in its turn. Other processes (a CLI on the same file) still
/// meet the service at SQLite's lock.
public final class WriterTurns: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0

    public init() {}

    /// Waits until every writer that asked before has released its turn.
    func take() {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
    }

    func release() {
        condition.lock()
        serving += 1
        condition.broadcast()
        condition.unlock()
    }
}
