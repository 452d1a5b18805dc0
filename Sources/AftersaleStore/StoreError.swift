/// A failure of the storage layer that is not SQLite's own: a file this build cannot use, a log that
/// contradicts itself, a stored value this build does not know, a lock that could not be taken.
///
/// Match on `code` (`catch let error as StoreError where error.code == .newerSchema`); the cases
/// are static members of a struct, so new ones do not break callers' exhaustive switches. SQLite's
/// own failures stay `SQLiteError`s. Messages name the file, position or row, never personal data.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case needsUpgrade = "needs upgrade"
            case newerSchema = "newer schema"
            case inconsistentLog = "inconsistent log"
            case unknownStoredValue = "unknown stored value"
            case lockFailed = "lock failed"
            case personalDataUnavailable = "personal data unavailable"
        }
        private let value: Value

        /// The file was written by an earlier version and was opened read-only, so it cannot be upgraded.
        public static let needsUpgrade = Code(value: .needsUpgrade)
        /// The file was written by a later version of aftersale than this build.
        public static let newerSchema = Code(value: .newerSchema)
        /// The log contradicts itself (an event with no stream, an id refused but absent).
        public static let inconsistentLog = Code(value: .inconsistentLog)
        /// A stored value (an event type, a command's kind, channel or status, a state) this build cannot read.
        public static let unknownStoredValue = Code(value: .unknownStoredValue)
        /// A lock file beside the database could not be opened or locked.
        public static let lockFailed = Code(value: .lockFailed)
        /// Personal data cannot be sealed or opened: the keys are missing or the master key does not open them.
        public static let personalDataUnavailable = Code(value: .personalDataUnavailable)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
