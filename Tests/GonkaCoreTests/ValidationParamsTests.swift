import Foundation
import GonkaCore
import Testing

/// `ValidationParams` in genesis: PROTOCOL §12 defaults, missing fields default, all integers.
@Suite struct ValidationParamsTests {
    @Test func defaultsAreTheProtocolTable() {
        let d = ValidationParams.defaults
        #expect([d.trafficMinCutoff, d.trafficHalfwayCutoff, d.trafficFullCutoff] == [100, 5_000, 10_000])
        #expect(
            [d.maxValidationAveragePpm, d.halfwayValidationAveragePpm, d.minValidationAveragePpm]
                == [1_000_000, 50_000, 10_000])
        #expect(d.epochsToMaxReputation == 30 && d.maxCleanMissRatePpm == 10_000)
        #expect(
            [d.honestFailRatePpb, d.cheaterFailRatePpb, d.falseConvictionRatePpb] == [10_000_000, 300_000_000, 1_000])
        #expect([d.positionCeilingPpm, d.samplerMarginPpm, d.likelihoodMarginPpm] == [300_000, 1_000, 4_000_000])
    }

    @Test func missingFieldsTakeDefaults() throws {
        let empty = try JSONDecoder().decode(ValidationParams.self, from: Data("{}".utf8))
        #expect(empty == .defaults)
        let partial = try JSONDecoder().decode(
            ValidationParams.self, from: Data(#"{"honest_fail_rate_ppb": 20000000, "traffic_min_cutoff": 50}"#.utf8))
        #expect(partial.honestFailRatePpb == 20_000_000 && partial.trafficMinCutoff == 50)
        #expect(partial.cheaterFailRatePpb == ValidationParams.defaults.cheaterFailRatePpb)
    }

    @Test func roundTrips() throws {
        var params = ValidationParams.defaults
        params.falseConvictionRatePpb = 1
        let json = try JSONEncoder().encode(params)
        #expect(try JSONDecoder().decode(ValidationParams.self, from: json) == params)
        #expect(String(decoding: json, as: UTF8.self).contains("\"false_conviction_rate_ppb\":1"))
    }
}
