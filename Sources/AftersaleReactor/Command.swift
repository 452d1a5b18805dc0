public import AftersaleCore
internal import Synchronization

/// What a command asks the outside world to do. The raw values are the public names.
public enum CommandKind: String, CaseIterable, Sendable, Hashable, Comparable {
    case orderConfirmation = "order_confirmation"
    case dispatchNotice = "dispatch_notice"
    case deliveryIssueApology = "delivery_issue_apology"
    case reviewRequest = "review_request"
    case reviewReply = "review_reply"
    case unboxingInvite = "unboxing_invite"
    case unboxingReward = "unboxing_reward"
    case returnConfirmation = "return_confirmation"
    case returnSatisfactionCheck = "return_satisfaction_check"
    case replenishmentReminder = "replenishment_reminder"
    case careTips = "care_tips"
    case crossSell = "cross_sell"
    case birthdayOffer = "birthday_offer"
    case anniversaryOffer = "anniversary_offer"
    case loyaltyReward = "loyalty_reward"
    case winBack = "win_back"

    public static func < (l: CommandKind, r: CommandKind) -> Bool { l.rawValue < r.rawValue }

    /// How the contact policy treats the kind.
    ///
    /// Transactional messages are exempt from caps and quiet hours; service messages (replies to
    /// reviews, the post-refund satisfaction check) respect quiet hours but neither count towards nor
    /// are stopped by marketing caps, and are not paused by an open return or complaint.
    public var contactClass: ContactClass {
        switch self {
        case .orderConfirmation, .dispatchNotice, .deliveryIssueApology, .returnConfirmation: .transactional
        case .reviewReply, .returnSatisfactionCheck: .service
        default: .marketing
        }
    }
}

/// The contact policy's three classes of message.
public enum ContactClass: String, Sendable, Hashable {
    case transactional
    case service
    case marketing
}

/// A channel a command can be sent on; the names are the consent keys of `customer.*` events.
public enum Channel: String, CaseIterable, Sendable, Hashable {
    case email
    case sms
    case push
}

/// How urgently a command should be handled; a high-priority command wins every arbitration.
public enum CommandPriority: String, Sendable, Hashable, Comparable {
    case normal
    case high

    public static func < (l: CommandPriority, r: CommandPriority) -> Bool { l == .normal && r == .high }
}

/// Where a command stands in the outbox.
public enum CommandStatus: Sendable, Hashable {
    /// Waiting for its due time.
    case pending
    /// Made moot by a later event.
    case cancelled(byEventID: String, reason: String)
    /// Never to be sent: no consented channel, a frequency cap, a lost arbitration, a paused customer.
    case suppressed(reason: String)
    /// Handed to the outside world.
    case dispatched

    /// `pending`, `cancelled`, `suppressed` or `dispatched`: the name the outbox stores.
    public var name: String {
        switch self {
        case .pending: "pending"
        case .cancelled: "cancelled"
        case .suppressed: "suppressed"
        case .dispatched: "dispatched"
        }
    }
}

/// A next-best action for one customer, with a deterministic id.
///
/// The id is the idempotency key: re-processing the event (or re-running the clock over the same
/// moment) gives the same id, so the outbox inserts it at most once.
///
/// A value whose fields live in one buffer, copied on write: the engine and the policies pass
/// commands and outboxes around at every event, and a copy is then one reference, not one per text.
public struct Command: Sendable, Equatable, Identifiable, CustomDebugStringConvertible {
    private final class Storage: @unchecked Sendable {
        // Mutated only through a uniquely referenced `Storage` (`Command.unique`), never shared while mutated.
        var id: String
        var customer: String
        var channel: Channel
        var due: Timestamp
        var payload: Payload
        var reason: String
        var priority: CommandPriority
        var status: CommandStatus
        var trigger: String

        init(id: String, customer: String, channel: Channel, due: Timestamp, payload: Payload,
             reason: String, priority: CommandPriority, status: CommandStatus, trigger: String) {
            self.id = id
            self.customer = customer
            self.channel = channel
            self.due = due
            self.payload = payload
            self.reason = reason
            self.priority = priority
            self.status = status
            self.trigger = trigger
        }

        /// Whether the status is `pending`, read without copying a reason out of it.
        var isPending: Bool {
            if case .pending = status { return true }
            return false
        }

        func copy() -> Storage {
            Storage(id: id, customer: customer, channel: channel, due: due, payload: payload, reason: reason,
                    priority: priority, status: status, trigger: trigger)
        }
    }

    /// A payload made by a play, or as the outbox stored it: then parsed when first read. A run
    /// loads every command of its customers, dozens a customer after a year or two, and the plays
    /// read the payloads of few of them (tools/results/million-customers.md, twenty-second session).
    enum Payload {
        case made(JSONObject)
        case stored(StoredPayload)

        var object: JSONObject {
            switch self {
            case .made(let object): object
            case .stored(let stored): stored.object
            }
        }
    }

    /// A stored payload's text and, once read, its parsed object. Shared by the copies of a
    /// command, which may be read on several threads (a run's payload texts are made on another).
    final class StoredPayload: Sendable {
        let text: String
        let id: String
        private let parsed = Mutex<JSONObject?>(nil)

        init(text: String, id: String) {
            self.text = text
            self.id = id
        }

        var object: JSONObject {
            parsed.withLock { parsed in
                if let parsed { return parsed }
                // The store hands over what it wrote itself (`JSONValue.compactText` of an object), and
                // tells a text that is not an object's at all when it loads it: what fails here is a
                // damaged file, on which no decision can be taken.
                guard case .object(let object)? = try? JSONParser.parse(text) else {
                    fatalError("the outbox's payload of command \(id) is not a JSON object: the database file is damaged")
                }
                parsed = object
                return object
            }
        }
    }

    private var storage: Storage

    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// `kind:trigger[:subkey]`, e.g. `review_request:ev-17:o-5001` or `birthday_offer:c-1001:2026`.
    public var id: String {
        get { storage.id }
        set { unique().id = newValue }
    }
    public var customer: String {
        get { storage.customer }
        set { unique().customer = newValue }
    }
    /// Held beside the buffer, not in it: the plays look through outboxes by kind at every event and
    /// tick, and a field of the value itself is read without retaining the buffer.
    public var kind: CommandKind
    public var channel: Channel {
        get { storage.channel }
        set { unique().channel = newValue }
    }
    /// When the command should go out (after quiet hours were applied).
    public var due: Timestamp {
        get { storage.due }
        set { unique().due = newValue }
    }
    /// What the message needs: order, SKUs with names and links, coupon as exact money, tracking...
    public var payload: JSONObject {
        get { storage.payload.object }
        set { unique().payload = .made(newValue) }
    }
    /// The payload's text as the outbox stored it, while the payload is that one (nil once set).
    public var storedPayloadText: String? {
        if case .stored(let stored) = storage.payload { return stored.text }
        return nil
    }
    /// Why, in words with the figures used.
    public var reason: String {
        get { storage.reason }
        set { unique().reason = newValue }
    }
    public var priority: CommandPriority {
        get { storage.priority }
        set { unique().priority = newValue }
    }
    public var status: CommandStatus {
        get { storage.status }
        set { unique().status = newValue }
    }
    /// The event that caused the command, or `clock` for time-based commands.
    public var trigger: String {
        get { storage.trigger }
        set { unique().trigger = newValue }
    }

    public init(id: String, customer: String, kind: CommandKind, channel: Channel, due: Timestamp, payload: JSONObject,
                reason: String, priority: CommandPriority = .normal, status: CommandStatus = .pending, trigger: String) {
        storage = Storage(id: id, customer: customer, channel: channel, due: due, payload: .made(payload), reason: reason,
                          priority: priority, status: status, trigger: trigger)
        self.kind = kind
    }

    /// A command as the outbox stored it, its payload the text of a JSON object, parsed when first read:
    /// a text that is not one stops the process then (`StoredPayload`).
    public init(id: String, customer: String, kind: CommandKind, channel: Channel, due: Timestamp, storedPayload: String,
                reason: String, priority: CommandPriority = .normal, status: CommandStatus = .pending, trigger: String) {
        storage = Storage(id: id, customer: customer, channel: channel, due: due, payload: .stored(StoredPayload(text: storedPayload, id: id)),
                          reason: reason, priority: priority, status: status, trigger: trigger)
        self.kind = kind
    }

    public var debugDescription: String {
        "Command(id: \(id), customer: \(customer), kind: \(kind.rawValue), channel: \(channel.rawValue), due: \(due), "
            + "status: \(status), priority: \(priority.rawValue), trigger: \(trigger), reason: \(reason), payload: \(JSONValue.object(payload).compactText))"
    }

    public static func == (a: Command, b: Command) -> Bool {
        guard a.kind == b.kind else { return false }
        if a.storage === b.storage { return true }
        let (x, y) = (a.storage, b.storage)
        return x.id == y.id && x.customer == y.customer && x.channel == y.channel && x.due == y.due
            && samePayload(x.payload, y.payload) && x.reason == y.reason && x.priority == y.priority && x.status == y.status && x.trigger == y.trigger
    }

    private static func samePayload(_ a: Payload, _ b: Payload) -> Bool {
        if case .stored(let x) = a, case .stored(let y) = b, x === y || x.text == y.text { return true }
        return a.object == b.object
    }

    /// The order the command is about, when it is about one (`payload.order`).
    public var order: String? { payload["order"]?.stringValue }

    /// The SKUs the command is about (`payload.skus`).
    public var skus: [String] { payload["skus"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    public var isPending: Bool { storage.isPending }

    /// Whether `commands` hold the command `id` of `kind` (an id begins with its kind, `Command.id`).
    /// Read through the list's buffer by the kind held beside each command's storage: the plays ask
    /// at every event and tick, and `contains(where:)` retained and released every command it
    /// looked at (`tools/results/million-customers.md`, sixteenth session).
    static func holds(_ commands: [Command], _ kind: CommandKind, _ id: String) -> Bool {
        commands.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].kind == kind {
                if buffer[i].storage.id == id { return true }
            }
            return false
        }
    }

    /// Whether `commands` hold a command of `kind`, read as `holds` reads them.
    static func holds(_ commands: [Command], _ kind: CommandKind) -> Bool {
        commands.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].kind == kind { return true }
            return false
        }
    }
}

/// A pending command made moot by an event.
public struct Cancellation: Sendable, Equatable {
    public var commandID: String
    public var byEventID: String
    public var reason: String

    public init(commandID: String, byEventID: String, reason: String) {
        self.commandID = commandID
        self.byEventID = byEventID
        self.reason = reason
    }
}

/// A pending command that lost its slot to a newer, more valuable one.
public struct Suppression: Sendable, Equatable {
    public var commandID: String
    public var reason: String

    public init(commandID: String, reason: String) {
        self.commandID = commandID
        self.reason = reason
    }
}

/// What the reactor decided for one event or one tick of the clock.
///
/// `schedule` holds new commands, some already `suppressed` (recorded, never sent); the caller
/// inserts them by id, ignoring ids it already has. `cancel` and `suppress` change pending commands.
public struct ReactorDecision: Sendable, Equatable {
    public var schedule: [Command]
    public var cancel: [Cancellation]
    public var suppress: [Suppression]

    public init(schedule: [Command] = [], cancel: [Cancellation] = [], suppress: [Suppression] = []) {
        self.schedule = schedule
        self.cancel = cancel
        self.suppress = suppress
    }

    public var isEmpty: Bool { schedule.isEmpty && cancel.isEmpty && suppress.isEmpty }
}
