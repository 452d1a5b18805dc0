public import AftersaleCore

/// The reactor's pure decision layer: events and the clock in, commands out. No I/O, no wall clock.
///
/// The caller owns persistence. For each event, in log order, it folds the customer's state
/// (`before` -> `after`), calls `react`, inserts `schedule` by id (ignoring ids it has), marks
/// `cancel` and `suppress`. Periodically it calls `advance` over the time since the last run, and
/// before handing due commands out it calls `release`. The same inputs always give the same
/// decisions: nothing random, every list sorted.
public enum Reactor {
    /// The twelve plays of the post-purchase playbook, in playbook order.
    public static let policies: [any Policy] = [
        OrderConfirmationPolicy(), DeliveryNoticePolicy(), ReviewRequestPolicy(), ReviewReplyPolicy(), UnboxingPolicy(),
        ReturnsPolicy(), ReplenishmentPolicy(), CareTipsPolicy(), CrossSellPolicy(), OccasionOfferPolicy(),
        LoyaltyRewardPolicy(), WinBackPolicy(),
    ]

    /// What one event calls for: new commands, and pending commands it cancels or displaces.
    ///
    /// - Parameters:
    ///   - before: the customer's state before the event; `after` includes it.
    ///   - outbox: the customer's commands so far: pending ones (which the event may cancel) and
    ///     recently dispatched ones (which count towards caps); others are ignored.
    ///   - context: uses no `now`: decisions depend on event times only, so a replay decides alike.
    public static func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command],
                             context: ReactorContext, policies: [any Policy] = Reactor.policies) -> ReactorDecision {
        guard event.customer == after.customer else { return ReactorDecision() }
        // In the outbox's order: each play cancels a command at most once, and the cancellations
        // are sorted by command id below, so the order they are found in changes nothing.
        let pending = outbox.filter(\.isPending)
        if event.type == .customerForgotten {
            // Nothing is sent to a person who asked to be forgotten, and nothing new is proposed.
            let reason = "customer forgotten" + (event.data["reason"]?.stringValue.map { ": " + $0 } ?? "")
            return ReactorDecision(cancel: pending.map { Cancellation(commandID: $0.id, byEventID: event.id, reason: reason) })
        }
        var cancels: [Cancellation] = []
        // An event cancels a few commands at most: their ids are looked through, where a set would
        // hash every id of the outbox.
        var cancelled: [String] = []
        for policy in policies {
            for c in policy.cancellations(for: event, after: after, pending: pending, context: context) where !cancelled.contains(c.commandID) {
                cancelled.append(c.commandID)
                cancels.append(c)
            }
        }
        let proposals = policies.flatMap { $0.react(to: event, before: before, after: after, outbox: outbox, context: context) }
        // Most events cancel nothing: the outbox as it is, not a copy of each of its commands.
        let remaining = cancelled.isEmpty ? outbox : outbox.filter { !cancelled.contains($0.id) }
        let outcome = ContactPolicy.admit(fresh(proposals, outbox: outbox, context: context), state: after, outbox: remaining,
                                          context: context, pauseUpTo: event.at, arbitrateWithPending: true)
        return ReactorDecision(schedule: sorted(outcome.commands), cancel: cancels.sorted { $0.commandID < $1.commandID },
                               suppress: outcome.displaced)
    }

    /// The commands whose moment falls in `(from, to]`: birthdays, anniversaries, late deliveries, VIP treatment, win-backs.
    ///
    /// Conditions of state (a win-back's P(alive)) are judged at `to` and give the same id until the
    /// episode ends, so running the clock twice over a moment schedules nothing new.
    public static func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command],
                               context: ReactorContext, policies: [any Policy] = Reactor.policies) -> ReactorDecision {
        let proposals = policies.flatMap { $0.advance(state: state, from: from, to: to, outbox: outbox, context: context) }
        let outcome = ContactPolicy.admit(fresh(proposals, outbox: outbox, context: context), state: state, outbox: outbox,
                                          context: context, pauseUpTo: to, arbitrateWithPending: true)
        return ReactorDecision(schedule: sorted(outcome.commands), suppress: outcome.displaced)
    }

    /// The contact rules again at hand-out time, for pending commands due by `context.now`.
    ///
    /// Consent may have been withdrawn, a return opened or a cap filled since the command was
    /// scheduled; a command due more than `clock.catch_up_days` before `now` (a first run over an
    /// old log) is too late. Returns each command either still `pending` (send it now, on the returned
    /// channel, unless its `due` moved past `now` because `now` is in quiet hours) or `suppressed`.
    public static func release(_ due: [Command], state: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        let limit = context.now.adding(wholeDays: -context.configuration.clock.catchUpDays)
        var stale: [Command] = []
        let candidates = sorted(due.filter(\.isPending)).compactMap { command -> Command? in
            var c = command
            if c.due < limit {
                c.status = .suppressed(reason: "too late: due \(c.due), more than \(context.configuration.clock.catchUpDays) days before \(context.now)")
                stale.append(c)
                return nil
            }
            if c.due < context.now { c.due = context.now }
            return c
        }
        let outcome = ContactPolicy.admit(candidates, state: state, outbox: outbox.filter { $0.status == .dispatched },
                                          context: context, pauseUpTo: context.now, arbitrateWithPending: false)
        let original = Dictionary(due.map { ($0.id, $0.due) }, uniquingKeysWith: { a, _ in a })
        return sorted(stale + outcome.commands.map { released in
            var c = released
            // A command not moved by quiet hours keeps its own due time.
            if c.due == context.now, let due = original[c.id], due < context.now { c.due = due }
            return c
        })
    }

    /// Drops disabled kinds, duplicates, and ids the outbox already has.
    static func fresh(_ proposals: [Command], outbox: [Command], context: ReactorContext) -> [Command] {
        guard !proposals.isEmpty else { return [] }
        // Proposals are few and a customer's outbox is short: scanning it costs less than hashing
        // every id it holds.
        var fresh: [Command] = []
        let disabled = context.configuration.disabled
        for proposal in proposals where disabled.isEmpty || !disabled.contains(proposal.kind) {
            // An id begins with its kind (`Command.id`): commands of another kind are passed over
            // without comparing their ids, most of which share a long prefix with this one.
            let (id, kind) = (proposal.id, proposal.kind)
            guard !fresh.contains(where: { $0.kind == kind && $0.id == id }), !Command.holds(outbox, kind, id) else { continue }
            fresh.append(proposal)
        }
        return fresh
    }

    static func sorted(_ commands: [Command]) -> [Command] {
        commands.sorted { ($0.due, $0.id) < ($1.due, $1.id) }
    }
}
