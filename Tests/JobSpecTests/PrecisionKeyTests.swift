import Foundation
import Platform
import Testing
@testable import JobSpec

@Suite("Job spec: precision")
struct PrecisionKeyTests {
    @Test("precision is optional, takes fp32, bf16 or auto, and round-trips through the canonical form", arguments: [PrecisionChoice.fp32, .bf16, .auto])
    func values(choice: PrecisionChoice) throws {
        let fx = Fixture()
        #expect(try fx.parse().precision == nil)
        let spec = try fx.parse(Fixture.yaml + "\nprecision: \(choice.rawValue)\n")
        #expect(spec.precision == choice)
        let again = try JobSpecLoader.parse(yaml: spec.canonicalYAML(), baseDirectory: "/elsewhere")
        #expect(again.precision == choice)
    }

    @Test("an unknown precision is refused with the choices and its line")
    func unknown() {
        let fx = Fixture()
        let problems = fx.problems(Fixture.yaml + "\nprecision: fp16\n")
        let p = problems.first { $0.path == "precision" }
        #expect(p != nil, "\(problems)")
        #expect(p?.message.contains("fp32, bf16, auto") == true)
        #expect(p?.line != nil)
    }
}
