import AftersaleCore
import AsyncHTTPClient
import Foundation

/// The HTTP side of a delivery run, kept busy while the run's thread records what came back:
/// deliveries are handed over in any number, each destination keeps at most its concurrency of
/// them on the wire, and finished tries are collected in batches.
///
/// A run used to send a wave, wait for its slowest answer, then record the wave while nothing was
/// on the wire; here the next deliveries go out while the last ones are being recorded.
final class SendingPipeline: @unchecked Sendable {
    /// A finished try: the delivery, the `webhook-timestamp` it went with, and how it ended; nil
    /// when it was not sent (its destination was stopped first) and stays queued as it was.
    typealias Finished = (delivery: Delivery, sentAt: Int64, outcome: TryOutcome?)

    private let condition = NSCondition()
    private var finished: [Finished] = []
    private var stopped: Set<String> = []
    private var streams: [String: AsyncStream<Delivery>.Continuation] = [:]
    private let allDone = DispatchGroup()

    init(destinations: [String: Destination], secrets: [WebhookSecret], client: HTTPClient, realSeconds: @escaping @Sendable () -> Int64) {
        for (name, destination) in destinations {
            let (stream, continuation) = AsyncStream<Delivery>.makeStream()
            streams[name] = continuation
            allDone.enter()
            Task {
                await withTaskGroup(of: Void.self) { group in
                    var running = 0
                    for await delivery in stream {
                        if running >= destination.concurrency {
                            await group.next()
                            running -= 1
                        }
                        group.addTask {
                            // A destination stopped (it answered 410) sends nothing more of what it was handed.
                            guard !self.isStopped(name) else { return self.add((delivery, 0, nil)) }
                            let sentAt = realSeconds()
                            let outcome = await Deliverer.post(delivery, to: destination, timestamp: sentAt, secrets: secrets, client: client)
                            self.add((delivery, sentAt, outcome))
                        }
                        running += 1
                    }
                }
                self.allDone.leave()
            }
        }
    }

    /// Hands deliveries over (each to its destination, which must be one of those given).
    func submit(_ deliveries: [Delivery]) {
        for delivery in deliveries { streams[delivery.destination]!.yield(delivery) }
    }

    /// Sends nothing more to `destination`: what it still holds comes back unsent.
    func stop(_ destination: String) {
        condition.lock()
        stopped.insert(destination)
        condition.unlock()
    }

    private func isStopped(_ destination: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped.contains(destination)
    }

    private func add(_ item: Finished) {
        condition.lock()
        finished.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Blocks until at least `count` tries have finished since the last take, and returns them all.
    func take(atLeast count: Int) -> [Finished] {
        condition.lock()
        defer { condition.unlock() }
        while finished.count < count { condition.wait() }
        let taken = finished
        finished.removeAll(keepingCapacity: true)
        return taken
    }

    /// Ends the destinations' streams and waits for what is on the wire to finish. What was handed
    /// over and not sent yet (a run that stopped on an error) is not sent; the outcomes of what was
    /// on the wire are dropped: not recorded, those commands go again in the next run, as after a crash.
    func close() {
        condition.lock()
        stopped.formUnion(streams.keys)
        condition.unlock()
        for continuation in streams.values { continuation.finish() }
        allDone.wait()
    }
}
