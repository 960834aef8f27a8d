import Foundation
import Testing
import AdaNeg

@Suite("Permutation source")
struct PermutationSourceTests {
    @Test("plans stored before PermutationSource decode unchanged; every case round-trips")
    func storedForm() throws {
        // The JSON the plan's former enum (seed | file | none) was stored as.
        let stored: [(String, PermutationSource)] = [
            (#"{"seed":{"_0":7}}"#, .seed(7)),
            (#"{"seed":{"_0":18446744073709551615}}"#, .seed(UInt64.max)),
            (#"{"file":{"_0":"\/data\/perm.npy"}}"#, .file("/data/perm.npy")),
            (#"{"none":{}}"#, .none),
        ]
        for (json, expected) in stored {
            #expect(try JSONDecoder().decode(PermutationSource.self, from: Data(json.utf8)) == expected, "\(json)")
        }
        for source in stored.map(\.1) + [.given([2, 0, 1])] {
            let again = try JSONDecoder().decode(PermutationSource.self, from: JSONEncoder().encode(source))
            #expect(again == source)
        }
    }
}
