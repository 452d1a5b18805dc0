/// Basket composition: which products a purchase contains.
///
/// The total is the Gamma-Gamma draw; lines are chosen from the catalogue, favouring the
/// customer's previous category, its complements and due replenishments, and the last line's
/// price is set so the lines add up to the total exactly.
extension ShopEventStream {
    mutating func buildBasket(state: inout CustomerState, event: PendingEvent) {
        let configuration = tables.configuration
        let basket = configuration.basket
        let catalogue = tables.catalogue
        var random = SimulationRandom(
            seed: configuration.seed, stream: StreamTag.basket.rawValue, UInt64(event.customer), UInt64(event.order))
        lines.removeAll(keepingCapacity: true)
        let total = event.amount
        let target = tables.lineCount.sample(using: &random) + 1
        var sum: Int64 = 0
        var firstCategory = -1
        let due = dueReplenishment(state: state, at: event.at)

        for index in 0..<(target - 1) {
            let product: Int
            if index == 0, due >= 0, random.bernoulli(basket.replenishProbability) {
                product = due
            } else {
                let category = chooseCategory(line: index, first: firstCategory, state: state, random: &random)
                product = catalogue.productsByCategory[category][tables.productChoice[category].sample(using: &random)]
            }
            if lines.contains(where: { $0.product == product }) { continue }
            let item = catalogue.products[product]
            let quantity: Int64 =
                catalogue.categories[item.category].isConsumable && random.bernoulli(basket.doubleQuantityProbability) ? 2 : 1
            let cost = item.price * quantity
            if sum + cost >= total { break }  // leave at least one cent for the last line
            lines.append(OrderLine(product: product, quantity: quantity, price: item.price))
            sum += cost
            if firstCategory < 0 { firstCategory = item.category }
        }

        // The last line absorbs the remainder: the product of its category priced nearest to it.
        let remainder = total - sum
        var last = -1
        if lines.isEmpty, due >= 0, random.bernoulli(basket.replenishProbability) {
            last = due
        } else {
            let category = chooseCategory(line: lines.count, first: firstCategory, state: state, random: &random)
            var bestDistance = Int64.max
            for candidate in catalogue.productsByCategory[category]
            where !lines.contains(where: { $0.product == candidate }) {
                let distance = abs(catalogue.products[candidate].price - remainder)
                if distance < bestDistance {
                    bestDistance = distance
                    last = candidate
                }
            }
        }
        lines.append(OrderLine(product: last, quantity: 1, price: remainder))

        let first = catalogue.products[lines[0].product]
        state.lastCategory = Int16(first.category)
        if let consumable = lines.first(where: { catalogue.categories[catalogue.products[$0.product].category].isConsumable }) {
            state.lastConsumable = Int32(consumable.product)
            state.lastConsumableAt = event.at
        }
    }

    /// The consumable product due for replenishment at `at`, or -1.
    private func dueReplenishment(state: CustomerState, at: Int64) -> Int {
        guard state.lastConsumable >= 0 else { return -1 }
        let product = tables.catalogue.products[Int(state.lastConsumable)]
        guard let days = tables.catalogue.categories[product.category].replenishmentDays else { return -1 }
        return at - state.lastConsumableAt >= Int64(days.lowerBound) * CivilTime.secondsPerDay
            ? Int(state.lastConsumable) : -1
    }

    private func chooseCategory(
        line: Int, first: Int, state: CustomerState, random: inout SimulationRandom
    ) -> Int {
        let basket = tables.configuration.basket
        let categories = tables.catalogue.categories
        func complement(of category: Int) -> Int {
            let options = categories[category].complements
            return options[random.integer(below: options.count)]
        }
        if line == 0 || first < 0 {
            if state.lastCategory >= 0 {
                let u = random.uniform()
                let last = Int(state.lastCategory)
                if u < basket.sameCategoryProbability { return last }
                if u < basket.sameCategoryProbability + basket.complementProbability { return complement(of: last) }
            } else if random.bernoulli(basket.homeCategoryProbability) {
                return Int(state.homeCategory)
            }
            return tables.categoryChoice.sample(using: &random)
        }
        let u = random.uniform()
        if u < 0.45 { return first }
        if u < 0.85 { return complement(of: first) }
        return tables.categoryChoice.sample(using: &random)
    }
}

/// The consequences of an order: cancellation or shipping, then unboxing, returns, reviews.
extension ShopEventStream {
    @inline(__always)
    private static func seconds(days: Double) -> Int64 {
        Swift.max(1, Int64(days * Double(CivilTime.secondsPerDay)))
    }

    mutating func scheduleAftermath(of order: PendingEvent) {
        let configuration = tables.configuration
        let fulfilment = configuration.fulfilment
        let aftercare = configuration.aftercare
        var random = SimulationRandom(
            seed: configuration.seed, stream: StreamTag.aftermath.rawValue, UInt64(order.customer), UInt64(order.order))
        var base = order
        base.slot = 0
        base.amount = 0

        func event(_ kind: EventKind, _ at: Int64) -> PendingEvent {
            var event = base
            event.kind = kind
            event.at = at
            return event
        }

        if random.bernoulli(fulfilment.cancellationRate) {
            schedule(event(.cancelled, order.at + Self.seconds(days: random.uniform(in: fulfilment.cancellationDelayHours) / 24)))
            return
        }
        let dispatched = order.at + Self.seconds(days: random.uniform(in: fulfilment.dispatchDelayDays))
        schedule(event(.dispatched, dispatched))
        let delivered: Int64
        if random.bernoulli(fulfilment.manualFulfilmentRate) {
            return
        } else if random.bernoulli(fulfilment.failureRate) {
            let failed = dispatched + Self.seconds(days: random.uniform(in: fulfilment.failureDelayDays))
            schedule(event(.failed, failed))
            delivered = failed + Self.seconds(days: random.uniform(in: fulfilment.redeliveryDelayDays))
        } else {
            delivered = dispatched + Self.seconds(days: random.uniform(in: fulfilment.deliveryDelayDays))
        }
        guard delivered < tables.end else { return }
        schedule(event(.delivered, delivered))

        if random.bernoulli(aftercare.unboxingRate) {
            var unboxing = event(.unboxing, delivered + Self.seconds(days: random.uniform(in: aftercare.unboxingDelayDays)))
            unboxing.rating = UInt8(tables.rating.sample(using: &random) + 1)
            unboxing.flag = random.bernoulli(aftercare.unboxingSharedRate)
            schedule(unboxing)
        }

        if random.bernoulli(aftercare.returnRate) {
            var products: UInt64 = 0
            var quantities: UInt32 = 0
            var refund: Int64 = 0
            let forced = random.integer(below: lines.count)
            for (index, line) in lines.enumerated() where index == forced || random.bernoulli(0.4) {
                let quantity = line.quantity > 1 && random.bernoulli(0.5) ? 1 : line.quantity
                products |= UInt64(line.product + 1) << (16 * UInt64(index))
                quantities |= UInt32(quantity) << (8 * UInt32(index))
                refund += line.price * quantity
            }
            var requested = event(.returnRequested, delivered + Self.seconds(days: random.uniform(in: aftercare.returnDelayDays)))
            requested.products = products
            requested.quantities = quantities
            schedule(requested)
            if random.bernoulli(aftercare.refundRate) {
                var refunded = event(.returnRefunded, requested.at + Self.seconds(days: random.uniform(in: aftercare.refundDelayDays)))
                refunded.amount = refund
                schedule(refunded)
            }
        }

        for (index, line) in lines.enumerated() where random.bernoulli(aftercare.reviewRate) {
            var review = event(.reviewPosted, delivered + Self.seconds(days: random.uniform(in: aftercare.reviewDelayDays)))
            review.rating = UInt8(tables.rating.sample(using: &random) + 1)
            review.line = UInt8(index)
            review.products = UInt64(line.product)
            schedule(review)
            if random.bernoulli(aftercare.replyRate) {
                var reply = review
                reply.kind = .reviewReplied
                reply.at = review.at + Self.seconds(days: random.uniform(in: aftercare.replyDelayDays))
                schedule(reply)
            }
        }
    }
}
