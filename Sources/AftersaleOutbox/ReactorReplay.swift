public import AftersaleCore
public import AftersaleReactor
public import AftersaleStore

/// The reactor re-run over the log in memory, up to a point: what it decided then, and why.
///
/// Side effects are off by construction, not by a flag: the log is opened read-only and nothing
/// here knows the outbox, so a replay can neither write nor dispatch.
public enum ReactorReplay {
    /// Where a replay stops.
    public enum Limit: Sendable, Equatable {
        /// Events up to and including this log position; the clock up to the last of them.
        case position(Int64)
        /// Events that happened by this time; the clock up to it.
        case time(Timestamp)
    }

    /// One change the engine made to a command, in the order it made them.
    public struct Decision: Sendable {
        /// The event (or clock tick) that caused it.
        public var cause: String
        /// What changed ("scheduled", "cancelled: ...", "dispatched", ...).
        public var change: String
        /// The command as it stands at the end of the replay.
        public var command: Command
    }

    /// What a replay saw.
    public struct Result: Sendable {
        public var decisions: [Decision]
        /// Where the engine's clock stopped.
        public var clock: Timestamp
    }

    /// Replays the log in the file at `path` through a copy of `engine`, up to `limit` (default:
    /// every event, the clock at the last one), keeping only `customer`'s decisions when given.
    public static func run(logAt path: String, engine prototype: ReactorEngine, until limit: Limit? = nil,
                           customer: String? = nil) throws -> Result {
        let log = try EventLog(path: path, readOnly: true)
        var engine = prototype
        engine.recording = true
        var position: Int64?
        var time: Timestamp?
        switch limit {
        case .position(let p): position = p
        case .time(let t): time = t
        case nil: break
        }
        var clock = Timestamp(millis: 0)
        try log.read(limit: position.map { Int($0) } ?? .max, includeMeta: false) { recorded in
            if let time, recorded.event.at > time { return }
            engine.apply(recorded.event)
            if recorded.event.at > clock { clock = recorded.event.at }
        }
        engine.advance(to: time ?? clock)
        var decisions: [Decision] = []
        for record in engine.records {
            guard let command = engine.command(record.commandID), customer == nil || command.customer == customer else { continue }
            decisions.append(Decision(cause: record.cause, change: record.change, command: command))
        }
        return Result(decisions: decisions, clock: time ?? clock)
    }
}
