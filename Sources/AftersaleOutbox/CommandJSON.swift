public import AftersaleCore
public import AftersaleReactor

extension Command {
    /// The command as one JSON object: what `actions --json` prints, `dispatch` writes and
    /// `GET /v1/actions` answers.
    public func jsonText(status: String? = nil) -> String {
        var o = JSONObject([
            "id": .string(id), "customer": .string(customer), "kind": .string(kind.rawValue), "channel": .string(channel.rawValue),
            "due": .string(due.description), "reason": .string(reason), "status": .string(status ?? self.status.name),
            "priority": .string(priority.rawValue), "payload": .object(payload), "trigger": .string(trigger),
        ])
        switch self.status {
        case .cancelled(let by, let reason):
            o["cancelled_by"] = .string(by)
            o["status_reason"] = .string(reason)
        case .suppressed(let reason):
            o["status_reason"] = .string(reason)
        default: break
        }
        return JSONValue.object(o).compactText
    }
}
