@testable import Coordinator
import Testing

@Suite("Leased image references")
struct LeasedReferencesTests {
    @Test("references remembered at lease answer merges and completions; unknown positions fall through; completion forgets")
    func lifecycle() {
        var cache = LeasedReferences()
        cache.remember(task: 1, firstSample: 10, refs: ["a", nil, "c"])
        #expect(cache.refs(task: 1, positions: [12, 10]) == ["c", "a"])
        #expect(cache.refs(task: 1, positions: [11]) == [nil], "a sample without an image is known to have none")
        #expect(cache.refs(task: 1, positions: [10, 13]) == nil, "one unknown position sends the lookup to the database")
        #expect(cache.refs(task: 2, positions: [10]) == nil)
        cache.forget(task: 1, firstSample: 10, count: 3)
        #expect(cache.refs(task: 1, positions: [10]) == nil)
    }
}
