/// JSON rendering of pending events, straight into bytes.
extension ShopEventStream {
    private func writeHeader(_ event: PendingEvent, into buffer: inout LineWriter) {
        buffer.write("{\"id\":\"")
        buffer.appendBytes(tables.idPrefix)
        buffer.appendByte(UInt8(ascii: "-"))
        buffer.writeDecimal(UInt64(emitted))
        buffer.write("\",\"type\":\"")
        buffer.write(event.kind.typeName)
        buffer.write("\",\"customer\":\"c-")
        buffer.writeDecimal(UInt64(event.customer), width: 6)
        buffer.write("\",\"at\":")
        buffer.writeTimestamp(event.at)
        buffer.write(",\"data\":{")
    }

    private func writeFooter(into buffer: inout LineWriter) {
        if tables.configuration.includeMeta {
            buffer.write("},\"meta\":{\"source\":\"simulator\"}}\n")
        } else {
            buffer.write("}}\n")
        }
    }

    /// Writes a quoted reference such as `"o-000042-0003"` (with `-<suffix>` when given).
    /// `"order":"o-…","shipment":"s-…"`: the references every shipment event starts with.
    private func writeOrderAndShipment(_ event: PendingEvent, into buffer: inout LineWriter) {
        buffer.write("\"order\":")
        writeReference("o-", event, into: &buffer)
        buffer.write(",\"shipment\":")
        writeReference("s-", event, into: &buffer)
    }

    private func writeReference(
        _ prefix: StaticString, _ event: PendingEvent, suffix: Int? = nil, into buffer: inout LineWriter
    ) {
        buffer.appendByte(UInt8(ascii: "\""))
        buffer.write(prefix)
        buffer.writeDecimal(UInt64(event.customer), width: 6)
        buffer.appendByte(UInt8(ascii: "-"))
        buffer.writeDecimal(UInt64(event.order), width: 4)
        if let suffix {
            buffer.appendByte(UInt8(ascii: "-"))
            buffer.writeDecimal(UInt64(suffix))
        }
        buffer.appendByte(UInt8(ascii: "\""))
    }

    private func detailRandom(_ event: PendingEvent) -> SimulationRandom {
        SimulationRandom(
            seed: tables.configuration.seed, stream: StreamTag.detail.rawValue, UInt64(event.customer),
            UInt64(event.order) << 16 | UInt64(event.line) << 8 | UInt64(event.kind.rawValue))
    }

    private func pick(_ options: [String], _ random: inout SimulationRandom, into buffer: inout LineWriter) {
        buffer.writeJSONString(options[random.integer(below: options.count)])
    }

    func renderPlaced(_ event: PendingEvent, into buffer: inout LineWriter) {
        writeHeader(event, into: &buffer)
        buffer.write("\"order\":")
        writeReference("o-", event, into: &buffer)
        buffer.write(",\"total\":")
        buffer.writeMoney(event.amount)
        buffer.write(",\"currency\":")
        buffer.appendBytes(tables.currencyJSON)
        buffer.write(",\"lines\":[")
        for (index, line) in lines.enumerated() {
            if index > 0 { buffer.appendByte(UInt8(ascii: ",")) }
            buffer.write("{\"sku\":")
            buffer.appendBytes(tables.skuJSON[line.product])
            buffer.write(",\"name\":")
            buffer.appendBytes(tables.nameJSON[line.product])
            buffer.write(",\"category\":")
            buffer.appendBytes(tables.categoryJSON[tables.catalogue.products[line.product].category])
            buffer.write(",\"quantity\":")
            buffer.writeDecimal(UInt64(line.quantity))
            buffer.write(",\"price\":")
            buffer.writeMoney(line.price)
            buffer.appendByte(UInt8(ascii: "}"))
        }
        buffer.appendByte(UInt8(ascii: "]"))
        writeFooter(into: &buffer)
    }

    func render(_ event: PendingEvent, into buffer: inout LineWriter) {
        writeHeader(event, into: &buffer)
        switch event.kind {
        case .registered:
            var profile = Profile(customer: event.customer, configuration: tables.configuration)
            buffer.write("\"email\":\"c-")
            buffer.writeDecimal(UInt64(event.customer), width: 6)
            buffer.write("@example.com\",\"name\":")
            buffer.writeJSONString(ProfileData.firstNames[profile.firstName] + " " + ProfileData.lastNames[profile.lastName])
            if let birthday = profile.birthday {
                buffer.write(",\"birthday\":\"")
                buffer.writeDateDigits(days: birthday)
                buffer.appendByte(UInt8(ascii: "\""))
            }
            buffer.write(",\"timezone\":")
            buffer.writeJSONString(ProfileData.timezones[tables.timezone.sample(using: &profile.timezoneRandom)])
            writeConsent(email: profile.emailConsent, sms: profile.smsConsent, into: &buffer)
        case .updated:
            let profile = Profile(customer: event.customer, configuration: tables.configuration)
            // Subscribers unsubscribe from email; the others opt in.
            buffer.write("\"consent\":{")
            writeConsentBody(email: !profile.emailConsent, sms: profile.smsConsent, into: &buffer)
            buffer.appendByte(UInt8(ascii: "}"))
        case .placed:
            preconditionFailure("order.placed is rendered by renderPlaced")
        case .cancelled:
            buffer.write("\"order\":")
            writeReference("o-", event, into: &buffer)
        case .dispatched:
            var random = detailRandom(event)
            let carrier = random.integer(below: ProfileData.carriers.count)
            writeOrderAndShipment(event, into: &buffer)
            buffer.write(",\"carrier\":")
            buffer.writeJSONString(ProfileData.carriers[carrier])
            buffer.write(",\"tracking\":\"")
            buffer.appendBytes(ProfileData.trackingPrefixes[carrier])
            buffer.writeDecimal(random.next() % 1_000_000_000_000, width: 12)
            buffer.write("\",\"estimated_delivery\":")
            let estimate = event.at + Int64(2 + random.integer(below: 3)) * CivilTime.secondsPerDay
            buffer.writeTimestamp(estimate - estimate % CivilTime.secondsPerDay + 18 * 3600)
        case .failed:
            var random = detailRandom(event)
            writeOrderAndShipment(event, into: &buffer)
            buffer.write(",\"reason\":")
            pick(ProfileData.failureReasons, &random, into: &buffer)
        case .delivered:
            writeOrderAndShipment(event, into: &buffer)
        case .unboxing:
            buffer.write("\"order\":")
            writeReference("o-", event, into: &buffer)
            buffer.write(",\"rating\":")
            buffer.writeDecimal(UInt64(event.rating))
            if event.flag {
                var random = detailRandom(event)
                buffer.write(",\"shared_on\":")
                buffer.writeJSONString(ProfileData.socialNetworks[tables.social.sample(using: &random)])
                buffer.write(",\"media_url\":\"https://media.example.com/unboxing/o-")
                buffer.writeDecimal(UInt64(event.customer), width: 6)
                buffer.appendByte(UInt8(ascii: "-"))
                buffer.writeDecimal(UInt64(event.order), width: 4)
                buffer.write(".jpg\"")
            }
        case .returnRequested:
            var random = detailRandom(event)
            buffer.write("\"order\":")
            writeReference("o-", event, into: &buffer)
            buffer.write(",\"return\":")
            writeReference("r-", event, into: &buffer)
            buffer.write(",\"reason\":")
            pick(ProfileData.returnReasons, &random, into: &buffer)
            buffer.write(",\"lines\":[")
            var first = true
            for lane in 0..<4 {
                let product = Int((event.products >> (16 * UInt64(lane))) & 0xFFFF)
                guard product > 0 else { continue }
                if !first { buffer.appendByte(UInt8(ascii: ",")) }
                first = false
                buffer.write("{\"sku\":")
                buffer.appendBytes(tables.skuJSON[product - 1])
                buffer.write(",\"quantity\":")
                buffer.writeDecimal(UInt64((event.quantities >> (8 * UInt32(lane))) & 0xFF))
                buffer.appendByte(UInt8(ascii: "}"))
            }
            buffer.appendByte(UInt8(ascii: "]"))
        case .returnRefunded:
            buffer.write("\"order\":")
            writeReference("o-", event, into: &buffer)
            buffer.write(",\"return\":")
            writeReference("r-", event, into: &buffer)
            buffer.write(",\"amount\":")
            buffer.writeMoney(event.amount)
            buffer.write(",\"currency\":")
            buffer.appendBytes(tables.currencyJSON)
        case .reviewPosted:
            var random = detailRandom(event)
            buffer.write("\"review\":")
            writeReference("rv-", event, suffix: Int(event.line) + 1, into: &buffer)
            buffer.write(",\"order\":")
            writeReference("o-", event, into: &buffer)
            buffer.write(",\"sku\":")
            buffer.appendBytes(tables.skuJSON[Int(event.products)])
            buffer.write(",\"rating\":")
            buffer.writeDecimal(UInt64(event.rating))
            if random.bernoulli(tables.configuration.aftercare.reviewTextRate) {
                buffer.write(",\"text\":")
                pick(ProfileData.reviewTexts[Int(event.rating) - 1], &random, into: &buffer)
            }
        case .reviewReplied:
            var random = detailRandom(event)
            buffer.write("\"review\":")
            writeReference("rv-", event, suffix: Int(event.line) + 1, into: &buffer)
            buffer.write(",\"by\":\"support\",\"text\":")
            pick(event.rating >= 4 ? ProfileData.positiveReplies : ProfileData.apologeticReplies, &random, into: &buffer)
        }
        writeFooter(into: &buffer)
    }

    private func writeConsent(email: Bool, sms: Bool, into buffer: inout LineWriter) {
        buffer.write(",\"consent\":{")
        writeConsentBody(email: email, sms: sms, into: &buffer)
        buffer.appendByte(UInt8(ascii: "}"))
    }

    private func writeConsentBody(email: Bool, sms: Bool, into buffer: inout LineWriter) {
        buffer.write("\"email\":")
        if email { buffer.write("true") } else { buffer.write("false") }
        buffer.write(",\"sms\":")
        if sms { buffer.write("true") } else { buffer.write("false") }
    }
}

/// A customer's profile, derived statelessly from the seed and customer number.
struct Profile {
    let firstName: Int
    let lastName: Int
    /// Birthday as days since 1970-01-01, if given.
    let birthday: Int?
    let emailConsent: Bool
    let smsConsent: Bool
    /// Continues the profile stream for the timezone draw.
    var timezoneRandom: SimulationRandom

    init(customer: UInt32, configuration: SimulationConfiguration) {
        var random = SimulationRandom(seed: configuration.seed, stream: StreamTag.profile.rawValue, UInt64(customer))
        firstName = random.integer(below: ProfileData.firstNames.count)
        lastName = random.integer(below: ProfileData.lastNames.count)
        // Born 1950-01-01 ... 2006-12-31.
        let earliest = CivilTime.daysFromCivil(year: 1950, month: 1, day: 1)
        let latest = CivilTime.daysFromCivil(year: 2006, month: 12, day: 31)
        let day = earliest + random.integer(below: latest - earliest + 1)
        birthday = random.bernoulli(configuration.profiles.birthdayRate) ? day : nil
        emailConsent = random.bernoulli(configuration.profiles.emailConsentRate)
        smsConsent = random.bernoulli(configuration.profiles.smsConsentRate)
        timezoneRandom = random
    }
}
