import Foundation
@testable import JobSpec
import Testing

/// Issue 22, item 13: a spec's size is capped and, in a large spec, unknown top-level keys are
/// refused before YAML builds their values.
@Suite("Job spec: size cap and unknown keys before parsing")
struct SpecSizeTests {
    let fx = Fixture()

    @Test("a spec over 1 MiB is refused with the limit named, from text and from a file")
    func overLimit() throws {
        let yaml = minimalFeatures + "\n# " + String(repeating: "x", count: JobSpecLoader.maxSpecBytes) + "\n"
        let problems = fx.problems(yaml)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("at most \(JobSpecLoader.maxSpecBytes) bytes (1 MiB)") == true, "\(problems)")
        let file = fx.dir.write("huge.yaml", yaml)
        do {
            _ = try JobSpecLoader.load(path: file)
            Issue.record("a spec over the limit was loaded")
        } catch {
            #expect(error.description.contains("more than the \(JobSpecLoader.maxSpecBytes) allowed"), "\(error)")
        }
    }

    @Test("a large spec with an unknown top-level key: that key, its line and the suggestion, without parsing the value")
    func largeUnknownKey() {
        let payload = String(repeating: "  - {a: 1, b: [2, 3], c: ccccccccccccccccccccc}\n", count: 4_000)
        let yaml = minimalFeatures + "\nsync_evry:\n" + payload
        #expect(yaml.utf8.count > SpecPrescan.fullListingBytes)
        let problems = fx.problems(yaml)
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.path == "sync_evry" && problems.first?.message.contains("did you mean 'sync_every'?") == true, "\(problems)")
        #expect(problems.first?.line == minimalFeatures.split(separator: "\n", omittingEmptySubsequences: false).count + 1)
    }

    @Test("the prescan reads only unindented plain keys: nested keys, comments, items and quoted keys are the decoder's")
    func prescanKeys() {
        #expect(SpecPrescan.topLevelKey("name: x"[...].utf8) == "name")
        #expect(SpecPrescan.topLevelKey("unit_batches:"[...].utf8) == "unit_batches")
        for line in ["  nested: 1", "# comment: x", "- item: 1", "\"quoted\": 1", "url: http://x", "key:value", "{a: 1}"] {
            let key = SpecPrescan.topLevelKey(line[...].utf8)
            #expect(key == nil || line.hasPrefix("url"), "\(line) → \(key ?? "nil")")
        }
    }

    @Test("a large valid spec (a long OOD list) still passes")
    func largeValidSpec() throws {
        let comment = String(repeating: "# padding so the spec is over the listing size\n", count: 2_000)
        let yaml = comment + minimalFeatures
        #expect(yaml.utf8.count > SpecPrescan.fullListingBytes)
        #expect(fx.problems(yaml) == [])
    }
}
