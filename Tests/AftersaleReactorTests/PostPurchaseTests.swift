import AftersaleCore
import AftersaleReactor
import Testing

@Suite("Immediately after the purchase and during delivery")
struct PurchaseAndDeliveryTests {
    @Test("an order gets a confirmation at once with the total, the products and the promised delivery dates")
    func orderConfirmation() throws {
        var j = Journey()
        j.register()
        let decision = j.order("o-1", "2025-02-03T19:45:10+01:00", id: "ev-order")
        let confirmation = try #require(decision.schedule.first { $0.kind == .orderConfirmation })
        #expect(confirmation.id == "order_confirmation:ev-order")
        #expect(confirmation.due == at("2025-02-03T18:45:10Z"))
        #expect(confirmation.channel == .email)
        #expect(confirmation.status == .pending)
        #expect(confirmation.payload["total"]?.moneyText == "59.80 EUR")
        #expect(confirmation.skus == ["TEA-1", "MUG-1"])
        #expect(confirmation.payload["expected_delivery"]?["from"]?.stringValue == "2025-02-05")
        #expect(confirmation.payload["expected_delivery"]?["until"]?.stringValue == "2025-02-08")
        #expect(confirmation.payload["invite_registration"] == nil)
        #expect(confirmation.reason.contains("59.80 EUR, 3 items; promised delivery in 2-5 days"))
    }

    @Test("a guest's first order confirmation invites them to register")
    func guestInvited() throws {
        var j = Journey()
        let decision = j.order("o-1", "2025-02-03T10:00:00Z")
        // A guest never gave consent: the confirmation is recorded as suppressed, the invitation is in the payload.
        let confirmation = try #require(decision.schedule.first { $0.kind == .orderConfirmation })
        #expect(confirmation.payload["invite_registration"] == .bool(true))
        #expect(confirmation.status.suppressionReason?.hasPrefix("no consented channel") == true)
    }

    @Test("dispatch brings a notice with tracking; a failed delivery an immediate high-priority apology")
    func dispatchAndFailure() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let dispatched = j.happen(.shipmentDispatched, "2025-02-04T09:00:00Z", id: "ev-ship",
                                  ["order": "o-1", "carrier": "DHL", "tracking": "TRK-42", "estimated_delivery": "2025-02-06"])
        let notice = try #require(dispatched.schedule.first { $0.kind == .dispatchNotice })
        #expect(notice.id == "dispatch_notice:ev-ship")
        #expect(notice.payload["tracking"] == .string("TRK-42"))
        #expect(notice.reason == "order o-1 dispatched with DHL, tracking TRK-42, estimated delivery 2025-02-06")

        let failed = j.happen(.shipmentFailed, "2025-02-05T23:30:00Z", id: "ev-fail", ["order": "o-1", "reason": "nobody home"])
        let apology = try #require(failed.schedule.first)
        #expect(apology.kind == .deliveryIssueApology)
        #expect(apology.priority == .high)
        // Transactional: quiet hours (00:30 in Berlin) do not delay it.
        #expect(apology.due == at("2025-02-05T23:30:00Z"))
        #expect(apology.reason.contains("nobody home"))
    }
}

@Suite("Review requests")
struct ReviewRequestTests {
    @Test("a customer orders, it ships and arrives: a review request is due 7 days after delivery with the SKUs bought")
    func afterDelivery() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDispatched, "2025-02-04T10:00:00Z", id: "ev-ship", ["order": "o-1"])
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let request = try #require(delivered.schedule.first { $0.kind == .reviewRequest })
        #expect(request.id == "review_request:ev-delivered:o-1")
        #expect(request.due == at("2025-02-13T12:00:00Z"))
        #expect(request.skus == ["TEA-1", "MUG-1"])
        #expect(request.order == "o-1")
        #expect(request.payload["window"]?["until"]?.stringValue == "2025-02-21T12:00:00Z")
        // The fallback scheduled at dispatch is replaced, not doubled: one request per order.
        #expect(delivered.cancel.map(\.commandID) == ["review_request:ev-ship:o-1"])
        #expect(j.commands(.reviewRequest).filter(\.isPending).map(\.id) == ["review_request:ev-delivered:o-1"])
    }

    @Test("no delivery event: the review request falls back to dispatch + transit days")
    func fallback() throws {
        var config = ReactorConfiguration()
        config.reviewRequest.transitDays = 3
        var j = Journey(configuration: config)
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let dispatched = j.happen(.shipmentDispatched, "2025-02-04T10:00:00Z", id: "ev-ship", ["order": "o-1"])
        let request = try #require(dispatched.schedule.first { $0.kind == .reviewRequest })
        #expect(request.id == "review_request:ev-ship:o-1")
        #expect(request.due == at("2025-02-14T10:00:00Z"))  // dispatch + 3 transit + 7
        #expect(request.reason.hasPrefix("order o-1 no delivery reported: dispatched 2025-02-04 + 3 transit days"))
    }

    @Test("a returned order's review request is cancelled by the return event")
    func returned() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let returned = j.happen(.returnRequested, "2025-02-07T12:00:00Z", id: "ev-return", ["order": "o-1", "return": "ret-1"])
        let cancelled = try #require(j.command("review_request:ev-delivered:o-1")?.status.cancellation)
        #expect(cancelled.byEventID == "ev-return")
        #expect(cancelled.reason == "order o-1 is being returned (return ret-1)")
        #expect(returned.schedule.map(\.kind) == [.returnConfirmation])
    }

    @Test("a cancelled order's pending fallback request is cancelled")
    func cancelledOrder() {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDispatched, "2025-02-04T10:00:00Z", id: "ev-ship", ["order": "o-1"])
        j.happen(.orderCancelled, "2025-02-04T11:00:00Z", id: "ev-cancel", ["order": "o-1"])
        #expect(j.command("review_request:ev-ship:o-1")?.status.cancellation?.reason == "order o-1 cancelled")
    }

    @Test("the request is cancelled only when every product in it is reviewed")
    func reviewedProducts() {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        j.happen(.reviewPosted, "2025-02-08T10:00:00Z", ["review": "r-1", "sku": "MUG-1", "rating": .integer(5)])
        #expect(j.command("review_request:ev-delivered:o-1")?.status == .pending)
        j.happen(.reviewPosted, "2025-02-09T10:00:00Z", id: "ev-review-tea", ["review": "r-2", "sku": "TEA-1", "rating": .integer(4)])
        let cancelled = j.command("review_request:ev-delivered:o-1")?.status.cancellation
        #expect(cancelled?.byEventID == "ev-review-tea")
        #expect(cancelled?.reason.hasPrefix("every product in order o-1 already reviewed") == true)
    }

    @Test("products already reviewed are left out of a new request")
    func leavesOutReviewed() throws {
        var j = Journey()
        j.register()
        j.happen(.reviewPosted, "2025-01-20T10:00:00Z", ["review": "r-0", "sku": "TEA-1", "rating": .integer(5)])
        j.order("o-1", "2025-02-03T10:00:00Z")
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", ["order": "o-1"])
        let request = try #require(delivered.schedule.first { $0.kind == .reviewRequest })
        #expect(request.skus == ["MUG-1"])
        #expect(request.reason.contains("left out: TEA-1 already reviewed"))
    }
}

@Suite("Replies to reviews")
struct ReviewReplyTests {
    func apology(predictions: [String: CustomerForecast]) throws -> Command {
        var j = Journey(predictions: predictions)
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let decision = j.happen(.reviewPosted, "2025-02-10T10:00:00Z", id: "ev-review",
                                ["review": "r-1", "sku": "MUG-1", "rating": .integer(1), "order": "o-1"])
        return try #require(decision.schedule.first { $0.kind == .reviewReply })
    }

    @Test("a 1-star review gets a high-priority apology whose coupon is larger for a high-value customer")
    func apologyScalesWithValue() throws {
        let ordinary = try apology(predictions: [:])
        let valuable = try apology(predictions: ["c-1": CustomerForecast(pAlive: 0.9, predictedCLV: .eur("412.00"))])
        #expect(ordinary.priority == .high && valuable.priority == .high)
        #expect(ordinary.id == "review_reply:ev-review")
        #expect(ordinary.payload["tone"] == .string("apology"))
        // 5.00 + 5% of 59.80 (history) = 7.99; 5.00 + 5% of 412.00 (prediction) = 25.60.
        #expect(ordinary.payload["coupon"]?.moneyText == "7.99 EUR")
        #expect(valuable.payload["coupon"]?.moneyText == "25.60 EUR")
        #expect(valuable.reason.contains("coupon 5.00 EUR + 5% of predicted CLV 412.00 EUR = 25.60 EUR"))
        #expect(ordinary.reason.contains("historical net value 59.80 EUR"))
    }

    @Test("the apology coupon is capped")
    func capped() throws {
        let vip = try apology(predictions: ["c-1": CustomerForecast(pAlive: 0.9, predictedCLV: .eur("5000.00"))])
        #expect(vip.payload["coupon"]?.moneyText == "50.00 EUR")
        #expect(vip.reason.contains("capped at 50.00 EUR"))
    }

    @Test("3 stars asks what to improve, 5 stars thanks and invites sharing", arguments: [(3, "ask_what_to_improve"), (5, "thanks")])
    func tones(rating: Int, tone: String) throws {
        var j = Journey()
        j.register()
        let decision = j.happen(.reviewPosted, "2025-02-10T10:00:00Z", ["review": "r-1", "sku": "MUG-1", "rating": .integer(rating)])
        let reply = try #require(decision.schedule.first)
        #expect(reply.payload["tone"] == .string(tone))
        #expect(reply.priority == .normal)
        #expect(reply.payload["coupon"] == nil)
    }

    @Test("the reply is done when review.replied arrives")
    func doneWhenReplied() {
        var j = Journey()
        j.register()
        j.happen(.reviewPosted, "2025-02-10T10:00:00Z", id: "ev-review", ["review": "r-1", "sku": "MUG-1", "rating": .integer(2)])
        j.happen(.reviewReplied, "2025-02-10T15:00:00Z", id: "ev-replied", ["review": "r-1", "by": "shop"])
        let cancelled = j.command("review_reply:ev-review")?.status.cancellation
        #expect(cancelled?.byEventID == "ev-replied")
        #expect(cancelled?.reason == "review r-1 replied")
    }
}

@Suite("Unboxing and returns")
struct UnboxingAndReturnTests {
    @Test("a happy customer is invited to share the unboxing and rewarded for sharing it")
    func inviteAndReward() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", id: "ev-delivered", ["order": "o-1"])
        let invite = try #require(delivered.schedule.first { $0.kind == .unboxingInvite })
        #expect(invite.due == at("2025-02-08T12:00:00Z"))
        #expect(invite.payload["incentive"]?.moneyText == "5.00 EUR")
        let shared = j.happen(.unboxingRecorded, "2025-02-07T18:00:00Z", id: "ev-unboxing",
                              ["order": "o-1", "shared_on": "instagram", "rating": .integer(5)])
        let reward = try #require(shared.schedule.first)
        #expect(reward.id == "unboxing_reward:ev-unboxing")
        #expect(reward.payload["reward"]?.moneyText == "5.00 EUR")
        #expect(shared.cancel.map(\.commandID) == [invite.id])
        // A second post about the same order earns no second reward.
        #expect(j.happen(.unboxingRecorded, "2025-02-08T18:00:00Z", ["order": "o-1", "shared_on": "tiktok"]).schedule.isEmpty)
    }

    @Test("a customer with an open return or an unanswered complaint is not invited")
    func unhappyNotInvited() {
        var j = Journey()
        j.register()
        j.order("o-0", "2025-01-13T10:00:00Z")
        j.happen(.returnRequested, "2025-01-20T10:00:00Z", ["order": "o-0", "return": "ret-0"])
        j.order("o-1", "2025-02-03T10:00:00Z")
        let delivered = j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", ["order": "o-1"])
        #expect(!delivered.schedule.contains { $0.kind == .unboxingInvite })
        #expect(delivered.schedule.contains { $0.kind == .reviewRequest })
    }

    @Test("a return is confirmed with next steps; a satisfaction check follows the refund")
    func returns() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let requested = j.happen(.returnRequested, "2025-02-10T10:00:00Z", id: "ev-return",
                                 ["order": "o-1", "return": "ret-1", "lines": .array([.object(JSONObject(["sku": "MUG-1", "quantity": .integer(1)]))])])
        let confirmation = try #require(requested.schedule.first)
        #expect(confirmation.id == "return_confirmation:ev-return")
        #expect(confirmation.skus == ["MUG-1"])
        #expect(confirmation.payload["next_steps"]?.arrayValue?.count == 3)
        let refunded = j.happen(.returnRefunded, "2025-02-14T10:00:00Z", id: "ev-refund",
                                ["order": "o-1", "return": "ret-1", "amount": "30.00", "currency": "EUR"])
        let check = try #require(refunded.schedule.first)
        #expect(check.kind == .returnSatisfactionCheck)
        #expect(check.due == at("2025-02-17T10:00:00Z"))
        #expect(check.payload["refund"]?.moneyText == "30.00 EUR")
    }

    @Test("no marketing goes out while a return is open: release suppresses it until the refund")
    func pausedWhileReturnOpen() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDelivered, "2025-02-06T12:00:00Z", ["order": "o-1"])
        j.order("o-2", "2025-02-07T10:00:00Z")
        j.happen(.returnRequested, "2025-02-10T10:00:00Z", ["order": "o-2", "return": "ret-2"])
        let request = try #require(j.commands(.reviewRequest).first { $0.isPending })
        #expect(request.order == "o-1")
        let released = j.release(dueBy: request.due).first { $0.id == request.id }
        #expect(released?.status.suppressionReason == "marketing paused: return ret-2 is open")
        // After the refund the same command would go out.
        j.happen(.returnRefunded, "2025-02-12T10:00:00Z", ["order": "o-2", "return": "ret-2", "amount": "59.80", "currency": "EUR"])
        #expect(j.release(dueBy: request.due).first { $0.id == request.id }?.status == .pending)
    }
}

@Suite("Late deliveries and stale commands")
struct LateTests {
    @Test("a parcel a day past its estimated delivery with no delivery event gets an apology from the clock, once")
    func lateDelivery() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        j.happen(.shipmentDispatched, "2025-02-04T10:00:00Z", ["order": "o-1", "estimated_delivery": "2025-02-06", "tracking": "TRK-1"])
        // The estimate is the end of 6 February in Berlin (23:00 UTC); 24 hours later is 7 February 23:00 UTC.
        #expect(!j.advance(to: "2025-02-07T22:00:00Z").schedule.contains { $0.kind == .deliveryIssueApology })
        let tick = j.advance(to: "2025-02-08T03:00:00Z")
        let apology = try #require(tick.schedule.first { $0.kind == .deliveryIssueApology })
        #expect(apology.id == "delivery_issue_apology:c-1:late-o-1")
        #expect(apology.due == at("2025-02-07T23:00:00Z"))
        #expect(apology.priority == .high)
        j.setClock(back: "2025-02-07T00:00:00Z")
        #expect(j.advance(to: "2025-02-08T03:00:00Z").schedule.isEmpty)
    }

    @Test("a command due long before the first dispatch run is released as too late")
    func stale() throws {
        var j = Journey()
        j.register()
        j.order("o-1", "2025-02-03T10:00:00Z")
        let confirmation = try #require(j.commands(.orderConfirmation).first)
        let released = j.release(dueBy: at("2025-03-01T00:00:00Z")).first { $0.id == confirmation.id }
        #expect(released?.status.suppressionReason == "too late: due 2025-02-03T10:00:00Z, more than 7 days before 2025-03-01T00:00:00Z")
        #expect(j.release(dueBy: at("2025-02-03T10:05:00Z")).first { $0.id == confirmation.id }?.status == .pending)
    }
}
