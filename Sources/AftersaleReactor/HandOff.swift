public import AftersaleCore

/// A command's hand-off as the log records it: `action.dispatched` when it was handed to the
/// outside world, `action.suppressed` when the contact rules held it back at the last moment.
///
/// The reactor owns this shape: the outbox writes these events, the engine reads them back on
/// replay, and exports read when each command went out.
public struct HandOff: Sendable, Equatable {
    /// The command's id.
    public var action: String
    /// True for `action.dispatched`, false for `action.suppressed`.
    public var dispatched: Bool
    /// Where the command was due when it was handed off (quiet hours may have moved it).
    public var due: Timestamp?
    /// The channel it went out on.
    public var channel: Channel?
    /// Why it was held back (suppressed only).
    public var reason: String?
    /// A delivery sent again by hand (`aftersale redeliver`) after it had failed: when accepted, it
    /// turns the command's suppression into a dispatch.
    public var redelivered: Bool

    /// Reads a hand-off event; nil for any other event, or one without a command id.
    public init?(_ event: Event) {
        guard event.type == .actionDispatched || event.type == .actionSuppressed,
              let action = event.data["action"]?.stringValue else { return nil }
        self.action = action
        dispatched = event.type == .actionDispatched
        due = event.data["due"]?.stringValue.flatMap { try? Timestamp.parse($0) }
        channel = event.data["channel"]?.stringValue.flatMap(Channel.init(rawValue:))
        reason = event.data["reason"]?.stringValue
        redelivered = event.data["redelivered"]?.boolValue ?? false
    }

    /// The event that records `command`'s hand-off at `now`: dispatched when the command is still
    /// pending (it is being sent), suppressed when the contact rules suppressed it. Its id is
    /// derived from the command's, so a hand-off recorded twice is one event.
    public static func event(for command: Command, at now: Timestamp, source: String) -> Event {
        let sent = command.isPending
        var data = JSONObject(["action": .string(command.id), "kind": .string(command.kind.rawValue),
                               "channel": .string(command.channel.rawValue)])
        if case .suppressed(let reason) = command.status { data["reason"] = .string(reason) }
        data["due"] = .string(command.due.description)
        return Event(id: "\(sent ? "dispatched" : "suppressed"):\(command.id)", type: sent ? .actionDispatched : .actionSuppressed,
                     customer: command.customer, at: now, data: data, meta: JSONObject(["source": .string(source)]))
    }
}
