/// Which values in events are personal data, and the form they take once sealed.
///
/// The log keeps personal values sealed (encrypted under a key per customer, kept apart from the
/// log), so that deleting the key forgets them; everything else stays in clear for the models and
/// analytics. A sealed value is a JSON string that starts with `sealedPrefix`; sealing and opening
/// happen in the storage layer, this core only names the fields and recognises the form.
public enum PersonalData {
    /// The start of every sealed value: the format's version comes first, so a later format can be told apart.
    public static let sealedPrefix = "sealed:1:"
    private static let prefixBytes = Array(sealedPrefix.utf8)

    /// Whether `text` is a sealed value.
    public static func isSealed(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isSealed(utf8: $0) }
    }

    public static func isSealed(utf8 text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard text.count > prefixBytes.count else { return false }
        for i in prefixBytes.indices where text[i] != prefixBytes[i] { return false }
        return true
    }

    /// Members the catalogue does not name that are personal wherever a sender adds them to `data`.
    public static let conventionalMembers = ["phone", "first_name", "last_name", "address", "addresses",
                                             "shipping_address", "billing_address"]

    /// The members of `data` (at its top level) that hold personal data in events of `type`.
    /// Engine-written events and `$system` events hold none.
    public static func members(of type: EventType) -> [String] { memberNames(of: type).names }

    /// The same names, with what finds them in an event's text (made once for each list).
    public static func memberNames(of type: EventType) -> PersonalMemberNames {
        switch type {
        case .customerRegistered, .customerUpdated: customerMembers
        // A failed delivery's `reason` is the carrier's status ("address not found"), not the customer's words.
        case .orderCancelled, .returnRequested: reasonMembers
        case .unboxingRecorded: unboxingMembers
        case .reviewPosted, .reviewReplied: textMembers
        case .orderPlaced, .shipmentDispatched, .shipmentDelivered, .shipmentFailed, .returnRefunded: onlyConventional
        case .modelFitted, .actionDispatched, .actionSuppressed, .privacyRequested, .customerForgotten: noMembers
        }
    }

    private static let customerMembers = PersonalMemberNames(["email", "name", "birthday"] + conventionalMembers)
    private static let reasonMembers = PersonalMemberNames(["reason"] + conventionalMembers)
    private static let unboxingMembers = PersonalMemberNames(["media_url"] + conventionalMembers)
    private static let textMembers = PersonalMemberNames(["text"] + conventionalMembers)
    private static let onlyConventional = PersonalMemberNames(conventionalMembers)
    private static let noMembers = PersonalMemberNames([])
}

/// A list of personal member names, and the quick test the sealer runs over every event's text
/// before it parses any: most events hold none of them. A class: handed around per event, one
/// reference is counted instead of five arrays.
public final class PersonalMemberNames: Sendable {
    /// The names, in their order.
    public let names: [String]
    /// Their bytes one after another; name `k` is `bytes[starts[k]..<starts[k + 1]]`.
    private let bytes: [UInt8]
    private let starts: [Int]
    /// The names by their first byte (ASCII): those starting with byte `b` are
    /// `byFirst[firstStarts[b]..<firstStarts[b + 1]]`.
    private let byFirst: [Int]
    private let firstStarts: [Int]

    public init(_ names: [String]) {
        self.names = names
        var bytes: [UInt8] = []
        var starts = [0]
        for name in names {
            bytes.append(contentsOf: name.utf8)
            starts.append(bytes.count)
        }
        self.bytes = bytes
        self.starts = starts
        var byFirst: [Int] = []
        var firstStarts = [0]
        for b in 0..<128 {
            byFirst.append(contentsOf: names.indices.filter { names[$0].utf8.first == UInt8(b) })
            firstStarts.append(byFirst.count)
        }
        self.byFirst = byFirst
        self.firstStarts = firstStarts
    }

    public var isEmpty: Bool { names.isEmpty }

    /// The index in `names` of the name whose bytes are `name`; nil when it is none of them.
    public func index(of name: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = name.first, first < 128 else { return nil }
        var c = firstStarts[Int(first)]
        let end = firstStarts[Int(first) + 1]
        while c < end {
            let k = byFirst[c]
            c += 1
            guard starts[k + 1] - starts[k] == name.count else { continue }
            let same = bytes.withUnsafeBufferPointer { bytes in
                let own = bytes.baseAddress! + starts[k]
                for j in 0..<name.count where name[j] != own[j] { return false }
                return true
            }
            if same { return k }
        }
        return nil
    }

    /// Whether `text` holds one of the names between quotes anywhere (as a member's name or not):
    /// false means no member of it can be one of them.
    public func mentioned(in text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !names.isEmpty, let p = text.baseAddress else { return false }
        let count = text.count
        return bytes.withUnsafeBufferPointer { bytes in
            starts.withUnsafeBufferPointer { starts in
                byFirst.withUnsafeBufferPointer { byFirst in
                    firstStarts.withUnsafeBufferPointer { firstStarts in
                        var i = 0
                        while i + 1 < count {
                            defer { i += 1 }
                            guard p[i] == UInt8(ascii: "\""), p[i + 1] < 128 else { continue }
                            let first = Int(p[i + 1])
                            var c = firstStarts[first]
                            while c < firstStarts[first + 1] {
                                let k = byFirst[c]
                                c += 1
                                let length = starts[k + 1] - starts[k]
                                // The closing quote right after the name, then the name itself.
                                guard i + 1 + length < count, p[i + 1 + length] == UInt8(ascii: "\"") else { continue }
                                var same = true
                                for j in 1..<length where p[i + 1 + j] != bytes[starts[k] + j] {
                                    same = false
                                    break
                                }
                                if same { return true }
                            }
                        }
                        return false
                    }
                }
            }
        }
    }
}

/// What opening a sealed value gives.
public enum Revealed: Sendable, Equatable {
    /// The value as it was sent.
    case value(JSONValue)
    /// The customer was forgotten: the key that sealed it is gone for good.
    case erased
    /// The keys are missing or cannot be read here (no master key, a wrong one): the value may
    /// still exist, but this process cannot read it.
    case unavailable
}

/// Opens sealed values: the storage layer's key vault, handed to whatever shows personal data
/// (the customer view, delivery bodies, exports) and to the birthday play.
public protocol PersonalDataOpening: Sendable {
    /// Opens one sealed value of `customer`'s, found in the member `member` (`email`, `birthday`...).
    func open(_ sealed: String, customer: String, member: String) -> Revealed
    /// Called before many `open`s for these customers, so that what they need (their keys) can be
    /// fetched in one go instead of one lookup each.
    func prepare(customers: [String])
    /// Opens a sealed birthday (the member `birthday`) and reads it; nil when it cannot be opened
    /// or is not a birthday.
    func birthday(_ sealed: String, customer: String) -> Birthday?
}

extension PersonalDataOpening {
    public func prepare(customers: [String]) {}

    public func birthday(_ sealed: String, customer: String) -> Birthday? {
        guard case .value(let v) = open(sealed, customer: customer, member: "birthday") else { return nil }
        return v.stringValue.flatMap(Birthday.init)
    }
}

/// Whether a customer's personal data could be shown.
public enum PersonalDataStatus: String, Sendable, Equatable {
    /// Nothing sealed to open (none was sent, or the log keeps it in clear).
    case none
    /// Opened.
    case available
    /// The customer was forgotten.
    case erased
    /// Sealed, and not readable here (keys missing or unreadable).
    case unavailable
}

extension CustomerState {
    /// The state with its sealed personal values opened by `opener` (left out when they cannot be),
    /// and whether they could be.
    public func revealingPersonalData(with opener: (any PersonalDataOpening)?) -> (state: CustomerState, status: PersonalDataStatus) {
        var state = self
        var (opened, erased, unavailable) = (false, forgottenAt != nil, false)
        func open(_ text: String?, _ member: String) -> String? {
            guard let text, PersonalData.isSealed(text) else { return text }
            switch opener?.open(text, customer: customer, member: member) ?? .unavailable {
            case .value(let v):
                opened = true
                return v.stringValue
            case .erased:
                erased = true
                return nil
            case .unavailable:
                unavailable = true
                return nil
            }
        }
        state.email = open(email, "email")
        state.name = open(name, "name")
        if let sealed = sealedBirthday {
            state.sealedBirthday = nil
            state.birthday = open(sealed, "birthday").flatMap(Birthday.init)
        }
        // Data sent after an erasure is the customer's anew: what opens is shown.
        let status: PersonalDataStatus = unavailable ? .unavailable : opened ? .available : erased ? .erased : .none
        return (state, status)
    }
}
