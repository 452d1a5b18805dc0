import AftersaleCore
import AftersaleOutbox
import AftersaleProjections
import AftersaleStore
import ArgumentParser
import Foundation

extension Aftersale {
    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract: "Forget a customer: erase their personal data, keep the shop's numbers.",
            discussion: """
                Personal data (e-mail, name, birthday, phone, addresses, review and reply text, media \
                URLs, free-text reasons) is kept sealed under a key per customer, in a file apart from \
                the log. Forgetting deletes that key, so what it sealed can no longer be read anywhere: \
                the log, its read models, the delivery queue. It also deletes rejected input naming the \
                customer and appends `customer.forgotten`: the customers read model drops the sealed \
                values and the reactor cancels the customer's pending commands at its next run. Orders, \
                amounts, ratings and times stay, so lifetime values, cohorts and product figures do not \
                change. Forgetting twice is harmless. Events sent again later with the ids they had \
                are duplicates and bring nothing back; a new event about the same customer id, sent \
                after this, starts a new key.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The customer id.")
        var id: String

        @Option(help: ArgumentHelp("Why, kept in the event (e.g. a ticket number). Not personal data.", valueName: "TEXT"))
        var reason: String?

        @Option(help: ArgumentHelp("When (default: the clock).", valueName: "RFC3339"))
        var now: String?

        func run() throws {
            let log = try database.openLog()
            let at = try now.map { text in
                do { return try Timestamp.parse(text) } catch { throw CommandFailure("--now \(text) is not an RFC 3339 timestamp") }
            } ?? WallClock.now()
            guard log.vault?.problem == nil else {
                throw CommandFailure("cannot forget \(id): personal data is unavailable: \(log.vault?.problem ?? "no keys")")
            }
            let outcome = try ReactorStore(log: log, parallelism: 1).forget(id, reason: reason, request: "cli", id: "forget:\(id):\(at.millis)", at: at)
            // The read model's row is rewritten now, without the sealed values.
            try CustomerProjection(log: log).catchUp()
            var words = ["forgot \(id)"]
            words.append(outcome.keyDeleted ? "deleted their data key" : "no data key was held (forgotten before, or nothing personal was sent)")
            if outcome.rejectsRemoved > 0 { words.append("deleted \(outcome.rejectsRemoved) rejected input\(outcome.rejectsRemoved == 1 ? "" : "s") naming them") }
            if !outcome.hadEvents { words.append("the log held no events of theirs") }
            print(words.joined(separator: "; "))
            print("Pending commands are cancelled at the reactor's next run (aftersale actions, or at once in aftersale serve).")
        }
    }
}
