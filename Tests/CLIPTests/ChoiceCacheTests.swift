@testable import CLIP
import Foundation
import Platform
import Tensor
import Testing

/// Per-machine speed choices (`ChoiceCache`, `TextTransformer.chunkRowsChoice`): measured once,
/// kept next to the converted weights, never trusted when the file is damaged or foreign, beaten
/// by the environment's override, and without effect on any output bit.
@Suite("Measured per-machine choices", .serialized)
struct ChoiceCacheTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-choices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A measurement whose best candidate is `best`, counting how often it was taken.
    final class Counter: @unchecked Sendable {
        var calls = 0
        func measure(best: Int) -> ChoiceCache.Measurement {
            calls += 1
            return ChoiceCache.Measurement(candidates: [64, best, 8192], seconds: [0.3, 0.1, 0.2], scope: "test")
        }
    }

    @Test("a measurement is kept and read back: measured once, then cached, the same values")
    func roundTrip() throws {
        let cache = ChoiceCache(folder: try folder())
        let counter = Counter()
        let first = cache.measurement("entry a") { counter.measure(best: 512) }
        #expect(first.measuredNow && first.stored && first.problem == nil && first.value.best == 512)
        let again = cache.measurement("entry a") { counter.measure(best: 1024) }
        #expect(!again.measuredNow && again.value == first.value && counter.calls == 1)
        // A second entry joins the first in the same file.
        _ = cache.measurement("entry b") { counter.measure(best: 2048) }
        let entries = try cache.load().get()
        #expect(entries["entry a"]?.best == 512 && entries["entry b"]?.best == 2048 && counter.calls == 2)
        #expect(!FileManager.default.fileExists(atPath: cache.path + ".tmp-\(getpid())"), "the temporary file was renamed")
    }

    @Test("a corrupt, truncated, foreign, other-format or tampered file is detected and measured again, never trusted")
    func damagedFiles() throws {
        let cache = ChoiceCache(folder: try folder())
        let counter = Counter()
        _ = cache.measurement("entry") { counter.measure(best: 512) }
        let good = try String(contentsOfFile: cache.path, encoding: .utf8)
        let damages: [(String, String, (ChoiceCache.Problem) -> Bool)] = [
            ("garbage", "\u{0}\u{1}not json", { $0 == .malformed }),
            ("truncated", String(good.prefix(good.count / 2)), { $0 == .malformed }),
            ("empty", "", { $0 == .malformed }),
            ("tampered", good.replacingOccurrences(of: "best\\\":512", with: "best\\\":777"), { $0 == .checksum }),
            ("other format", good.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 9"), { $0 == .wrongFormat(9) }),
            ("foreign", good.replacingOccurrences(of: cache.machineKey.prefix(12), with: "cpu SomeOtherCPU"), {
                if case .foreign = $0 { return true } else { return false }
            }),
        ]
        for (label, text, expected) in damages {
            try text.write(toFile: cache.path, atomically: true, encoding: .utf8)
            switch cache.load() {
            case .success: Issue.record("\(label): the damaged file was read as good")
            case .failure(let problem): #expect(expected(problem), "\(label): \(problem)")
            }
            let before = counter.calls
            let found = cache.measurement("entry") { counter.measure(best: 1024) }
            #expect(counter.calls == before + 1 && found.measuredNow && found.problem != nil, "\(label): measured again")
            #expect(found.value.best == 1024 && found.stored)
            #expect((try? cache.load().get())?["entry"]?.best == 1024, "\(label): the file was replaced by a good one")
        }
        // The `choice` a text tower reports names the problem and re-measures as well.
        try "{\"format\":1".write(toFile: cache.path, atomically: true, encoding: .utf8)
        let survey = TextTransformer.chunkRowsSurvey(folder: cache.folder, environment: [:])
        #expect(survey.count == 1 && survey[0].source == .default && survey[0].detail.contains("not used"))
    }

    @Test("ADANEG_TEXT_CHUNK_ROWS wins over a kept measurement; an unusable value is ignored, saying so")
    func overrideWins() throws {
        let dir = try folder()
        let model = try CLIPModel(directory: try Fixtures.modelDirectory(Fixtures.modelNames[0]), towers: .text, precision: .fp32,
                                  weightCache: dir)
        let text = try #require(model.text)
        #expect(text.choiceFolder == dir)
        let counter = Counter()
        let fake: (TextTransformer, MatmulOperand.Element) -> ChoiceCache.Measurement = { _, _ in counter.measure(best: 128) }
        let overridden = text.chunkRowsChoice(element: .f32, environment: [TextTransformer.chunkRowsVariable: "4096"], measure: fake)
        #expect(overridden.value == 4096 && overridden.source == .override && counter.calls == 0)
        let measured = text.chunkRowsChoice(element: .f32, environment: [:], measure: fake)
        #expect(measured.value == 128 && measured.source == .measured && counter.calls == 1)
        let cached = text.chunkRowsChoice(element: .f32, environment: [:], measure: fake)
        #expect(cached.value == 128 && cached.source == .cached && counter.calls == 1)
        let again = text.chunkRowsChoice(element: .f32, environment: [TextTransformer.chunkRowsVariable: "300"], measure: fake)
        #expect(again.value == 300 && again.source == .override)
        let bad = text.chunkRowsChoice(element: .f32, environment: [TextTransformer.chunkRowsVariable: "lots"], measure: fake)
        #expect(bad.value == 128 && bad.source == .cached && bad.detail.contains("ADANEG_TEXT_CHUNK_ROWS='lots'"))
        // doctor's survey says the same without a model.
        #expect(TextTransformer.chunkRowsSurvey(folder: dir, environment: [TextTransformer.chunkRowsVariable: "300"]).map(\.source) == [.override])
        let kept = TextTransformer.chunkRowsSurvey(folder: dir, environment: [:])
        #expect(kept.map(\.value) == [128] && kept.map(\.source) == [.cached] && kept[0].measurement?.scope == "test")
        // Without a folder: the default, measuring nothing.
        var loose = text
        loose.choiceFolder = nil
        let plain = loose.chunkRowsChoice(element: .f32, environment: [:], measure: fake)
        #expect(plain.value == TextTransformer.defaultChunkRows && plain.source == .default && counter.calls == 1)
    }

    @Test("the measured chunk size is used and changes no bit: real probe, features equal to fixed sizes, kept for the next load",
          arguments: Fixtures.modelNames)
    func measuredChoiceChangesNoBit(model name: String) throws {
        for precision in Precision.allCases where precision == .fp32 || CPUFeatures.current.hasNativeBF16 {
            let dir = try folder()
            let model = try CLIPModel(directory: try Fixtures.modelDirectory(name), towers: .text, precision: precision, weightCache: dir)
            var text = try #require(model.text)
            let tokenizer = try #require(model.tokenizer)
            let element = try #require(TransformerEncoder.fusedElement(text.encoder))
            let tokens = try TextTrieTests.prompts().map { tokenizer.tokenize($0) }
            let chosen = try text.embed(tokenSequences: tokens)   // measures and keeps the choice
            let kept = try #require(try ChoiceCache(folder: dir).load().get()[text.chunkEntry(element)])
            #expect(kept.candidates == TextTransformer.chunkCandidates && kept.seconds.allSatisfy { $0 > 0 && $0.isFinite })
            #expect(TextTransformer.chunkCandidates.contains(kept.best))
            let choice = text.chunkRowsChoice(element: element, environment: [:])
            #expect(choice.source == .cached && choice.value == kept.best)
            for rows in [64, 4096] {
                text.maxRows = rows
                #expect(try text.embed(tokenSequences: tokens) == chosen, "\(name) \(precision): \(rows) rows vs the measured \(kept.best)")
            }
        }
    }
}
