public import AftersaleCore

/// A command's expected value: propensity x value, the figure arbitration compares.
///
/// The propensity is the configured share of customers expected to act on the kind
/// (`arbitration.propensity`); the value is the command's `payload.value` (what the reminder
/// would sell again, the customer value a win-back is after), else the customer's average order
/// value. Without any order history the value is one unit and the expected value is the propensity.
public struct ExpectedValue: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var propensity: Double
    public var value: Money?
    /// propensity x value in minor units (or the propensity alone without a value).
    public var score: Double

    public static func < (l: ExpectedValue, r: ExpectedValue) -> Bool { l.score < r.score }

    /// `0.25 x 29.80 EUR = 7.45 EUR`.
    public var description: String {
        guard let value else { return "\(fixed2(propensity)) (no order value)" }
        let ev = Money(minorUnits: Int64(score.rounded()), currency: value.currency)
        return "\(fixed2(propensity)) x \(value) = \(ev)"
    }

    /// The expected value of `command` for the customer in `state`.
    public static func of(_ command: Command, state: CustomerState, configuration: ReactorConfiguration) -> ExpectedValue {
        of(command, propensity: configuration.arbitration.propensity, averageOrderValue: state.averageOrderValue)
    }

    /// `of(_:state:configuration:)` from the configured propensities and the customer's average
    /// order value, asked for only when the command carries no value of its own.
    static func of(_ command: Command, propensity: [CommandKind: Double], averageOrderValue: @autoclosure () -> Money?) -> ExpectedValue {
        let p = propensity[command.kind] ?? 0.05
        let value = command.payload["value"].flatMap { Money(amount: $0["amount"], currency: $0["currency"]) }
            ?? averageOrderValue()
        return ExpectedValue(propensity: p, value: value, score: value.map { p * Double($0.minorUnits) } ?? p)
    }
}

/// The rules every command passes before it may go out: consent, pause, quiet hours, caps, arbitration.
///
/// - Consent: a command goes on its channel only if the customer consented to it; otherwise on the
///   first consented channel in `contact.channels`; with none it is suppressed, saying which
///   channels were refused and which never consented. This applies to every class.
/// - Pause: no marketing while a return or a complaint (unanswered negative review) is open.
/// - Quiet hours (marketing and service): a due time inside the window moves to its end, local time.
/// - Caps (marketing only): one message per channel per `gap_hours`, at most
///   `max_marketing_per_7_days` in any 7-day window, counting pending and dispatched.
/// - Arbitration: when marketing commands compete for one slot, the higher priority, then the
///   higher expected value, wins; the loser is suppressed with both figures in the reason.
public enum ContactPolicy {
    /// What `admit` decided: the commands (pending or suppressed) and the pending ones they displaced.
    public struct Outcome: Sendable, Equatable {
        public var commands: [Command]
        public var displaced: [Suppression]
    }

    /// Runs the contact rules over new commands of one customer.
    ///
    /// - Parameters:
    ///   - outbox: the customer's pending and recently dispatched commands (others are ignored).
    ///   - pauseUpTo: marketing due no later than this is checked against the pause now; later
    ///     commands are checked when released.
    ///   - arbitrateWithPending: whether pending commands in the outbox compete (at scheduling);
    ///     when releasing, only dispatched ones count.
    public static func admit(_ proposals: [Command], state: CustomerState, outbox: [Command], context: ReactorContext,
                             pauseUpTo: Timestamp?, arbitrateWithPending: Bool) -> Outcome {
        // Nothing proposed, nothing to admit or displace (the outbox is only read for clashes).
        guard !proposals.isEmpty else { return Outcome(commands: [], displaced: []) }
        let config = context.configuration.contact
        let clock = LocalClock(state, context)
        var resolved: [Command] = proposals.map { proposal in
            var c = proposal
            guard c.status == .pending else { return c }
            // Consent: the proposed channel first (as a rule consented: then no list of the others is made).
            var order = [c.channel]
            if state.consent[c.channel.rawValue] != true {
                for ch in config.channels where !order.contains(ch) { order.append(ch) }
            }
            if let ch = order.first(where: { state.consent[$0.rawValue] == true }) {
                if ch != c.channel {
                    c.reason += "; \(consentWords(c.channel, state)), sent by \(ch.rawValue)"
                    c.channel = ch
                }
            } else {
                c.status = .suppressed(reason: "no consented channel: " + order.map { consentWords($0, state) }.joined(separator: ", "))
                return c
            }
            let contactClass = c.kind.contactClass
            // Pause.
            if contactClass == .marketing, let limit = pauseUpTo, c.due <= limit, let why = state.marketingPause {
                c.status = .suppressed(reason: "marketing paused: \(why)")
                return c
            }
            // Quiet hours.
            if contactClass != .transactional, let quiet = config.quietHours {
                let moved = nextAllowed(c.due, quiet, clock)
                if moved != c.due {
                    c.reason += "; moved from \(LocalClock.hhmm(clock.minuteOfDay(c.due))) to \(LocalClock.hhmm(clock.minuteOfDay(moved))) "
                        + "local (quiet hours \(quiet.description) \(clock.zone))"
                    c.due = moved
                }
            }
            return c
        }

        // Caps and arbitration among marketing commands, best first.
        // The propensities and the average order value once per call, not at every comparison.
        let propensity = context.configuration.arbitration.propensity
        var average: Money??
        func averageOrderValue() -> Money? {
            if let known = average { return known }
            average = .some(state.averageOrderValue)
            return average!
        }
        // Functions, not closures held in a constant: a closure's context would copy the state at every call.
        func ev(_ c: Command) -> ExpectedValue { ExpectedValue.of(c, propensity: propensity, averageOrderValue: averageOrderValue()) }
        func outranks(_ a: Command, _ ea: @autoclosure () -> ExpectedValue, _ b: Command, _ eb: @autoclosure () -> ExpectedValue) -> Bool {
            if a.priority != b.priority { return a.priority > b.priority }
            let (ea, eb) = (ea(), eb())
            if ea.score != eb.score { return ea.score > eb.score }
            if a.due != b.due { return a.due < b.due }
            return a.id < b.id
        }
        func outranks(_ a: Command, _ b: Command) -> Bool { outranks(a, ev(a), b, ev(b)) }
        // Each contender's expected value once, not at every comparison of the sort.
        let marketing = resolved.indices.filter { resolved[$0].status == .pending && resolved[$0].kind.contactClass == .marketing }
        var values = [ExpectedValue?](repeating: nil, count: resolved.count)
        for index in marketing { values[index] = ev(resolved[index]) }
        let contenders = marketing.sorted { outranks(resolved[$0], values[$0]!, resolved[$1], values[$1]!) }
        var displaced: [Suppression] = []
        var displacedIDs = Set<String>()
        var admitted: [Command] = []
        // Proposals are few: scanning them costs less than hashing every id of the outbox.
        let known = contenders.isEmpty ? [] : outbox.filter { command in
            command.kind.contactClass == .marketing
                && (command.status == .dispatched || (arbitrateWithPending && command.isPending))
                && !proposals.contains { $0.kind == command.kind && $0.id == command.id }
        }
        // The commands a contender is weighed against: the known ones not displaced, then those admitted.
        // Walked in place: a contender used to copy them into a new list twice.
        func forEachOther(_ body: (Command) -> Void) {
            for o in known where displacedIDs.isEmpty || !displacedIDs.contains(o.id) { body(o) }
            for o in admitted { body(o) }
        }
        for index in contenders {
            let c = resolved[index]
            let gap = Int64(config.gapHours[c.channel] ?? 0) * 3_600_000
            var clashes: [Command] = []
            forEachOther { o in if o.channel == c.channel && abs(o.due.millis - c.due.millis) < gap { clashes.append(o) } }
            // No two share an id (the known ones leave out the proposals' ids): the order is the same however sorted.
            if clashes.count > 1 { clashes.sort { ($0.due, $0.id) < ($1.due, $1.id) } }
            if let sent = clashes.first(where: { $0.status == .dispatched }) {
                resolved[index].status = .suppressed(reason: "smart sending: \(sent.kind.rawValue) \(sent.id) went out by \(c.channel.rawValue) "
                    + "\(hoursApart(sent.due, c.due)) from this one (gap \(config.gapHours[c.channel] ?? 0) h)")
                continue
            }
            if let winner = clashes.first(where: { outranks($0, ev($0), c, values[index]!) }) {
                resolved[index].status = .suppressed(reason: "lost the \(c.channel.rawValue) slot to \(winner.kind.rawValue) \(winner.id): "
                    + arbitrationWords(winner, c, ev))
                continue
            }
            // c outranks every clash: they are pending outbox commands (batch winners always rank higher).
            for loser in clashes {
                displacedIDs.insert(loser.id)
                displaced.append(Suppression(commandID: loser.id, reason: "lost the \(c.channel.rawValue) slot to \(c.kind.rawValue) \(c.id): "
                    + arbitrationWords(c, loser, ev)))
            }
            let week = 7 * Timestamp.millisPerDay
            var near: [Command] = []
            forEachOther { o in if abs(o.due.millis - c.due.millis) < week { near.append(o) } }
            if let crowded = busiestWeek(around: c.due, near.map(\.due)), crowded > config.maxMarketingPer7Days {
                resolved[index].status = .suppressed(reason: "weekly cap: \(crowded) marketing messages would fall in one 7-day window "
                    + "(max \(config.maxMarketingPer7Days)); near this one: " + near.map(\.id).sorted().joined(separator: ", "))
                continue
            }
            admitted.append(c)
        }
        return Outcome(commands: resolved, displaced: displaced.sorted { $0.commandID < $1.commandID })
    }

    /// The most messages any 7-day window holding `t` would hold, counting `t`; nil when only `t`.
    static func busiestWeek(around t: Timestamp, _ others: [Timestamp]) -> Int? {
        guard !others.isEmpty else { return nil }
        let week = 7 * Timestamp.millisPerDay
        let all = others.map(\.millis) + [t.millis]
        // A busiest window can always be shifted to start at one of the messages.
        return all.filter { $0 <= t.millis && t.millis < $0 + week }.map { start in
            all.filter { $0 >= start && $0 < start + week }.count
        }.max()
    }

    /// The first moment at or after `t` outside the quiet hours.
    static func nextAllowed(_ t: Timestamp, _ quiet: ReactorConfiguration.QuietHours, _ clock: LocalClock) -> Timestamp {
        let minute = clock.minuteOfDay(t)
        guard quiet.contains(minuteOfDay: minute) else { return t }
        var date = clock.localDate(t)
        if quiet.start > quiet.end, minute >= quiet.start { date = CivilDate(daysSinceEpoch: date.daysSinceEpoch + 1) }
        return clock.instant(date, minute: quiet.end)
    }

    static func consentWords(_ channel: Channel, _ state: CustomerState) -> String {
        switch state.consent[channel.rawValue] {
        case true?: "\(channel.rawValue) consented"
        case false?: "\(channel.rawValue) refused"
        case nil: "\(channel.rawValue) never consented"
        }
    }

    static func arbitrationWords(_ winner: Command, _ loser: Command, _ ev: (Command) -> ExpectedValue) -> String {
        if winner.priority != loser.priority {
            return "\(winner.priority.rawValue) priority beats \(loser.priority.rawValue) (expected value \(ev(winner)) vs \(ev(loser)))"
        }
        let (w, l) = (ev(winner), ev(loser))
        if w.score == l.score { return "equal expected value \(l), the earlier or first by id wins" }
        return "expected value \(loser.kind.rawValue) \(l) < \(winner.kind.rawValue) \(w)"
    }

    static func hoursApart(_ a: Timestamp, _ b: Timestamp) -> String {
        let minutes = abs(a.millis - b.millis) / 60_000
        return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
    }
}

extension LocalClock {
    static func hhmm(_ minutes: Int) -> String { ReactorConfiguration.QuietHours.clock(minutes) }
}
