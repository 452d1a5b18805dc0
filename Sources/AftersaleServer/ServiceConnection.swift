import AftersaleSQLite
import AftersaleStore
import Foundation

extension EventLog {
    /// One of the service's long-lived connections to the log (intake, engine, delivery, reads):
    /// its writes take turns with the service's other writers (`WriterTurns`), personal data is
    /// sealed and opened with the vault's keys (from the environment, or beside the file), and its
    /// page cache, and the keys file's, is capped, since it stays open for the service's life.
    static func openForService(path: String, cacheMebibytes: Int, writerTurns: WriterTurns?) throws -> EventLog {
        let log = try EventLog(path: path)
        log.database.writerTurns = writerTurns
        try log.attachVault(environment: ProcessInfo.processInfo.environment)
        try log.limitPageCache(mebibytes: cacheMebibytes)
        return log
    }
}
