public import AftersaleCore
import Foundation

/// Where the server reads the time: the wall clock in production, one that tests move by hand.
/// The engine's decisions depend on the events and this reading only, never on the system clock.
public protocol ServerClock: Sendable {
    func now() -> Timestamp
}

/// A clock that reads a closure (the shell passes its wall clock: it lives in the shell).
public struct ClosureClock: ServerClock {
    let read: @Sendable () -> Timestamp
    public init(_ read: @escaping @Sendable () -> Timestamp) { self.read = read }
    public func now() -> Timestamp { read() }
}

/// A clock that stands still until moved: tests drive the engine's days with it.
public final class ManualClock: ServerClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Timestamp
    public init(_ start: Timestamp) { current = start }
    public func now() -> Timestamp { lock.withLock { current } }
    public func set(_ time: Timestamp) { lock.withLock { current = time } }
}
