// libFuzzer target: job-spec YAML as `adaneg run`, `submit` and the coordinator read it
// (`JobSpecLoader.parse`: Yams' composer on arbitrary bytes, then the structure pass with every
// key's type and range check; `checkFiles: false`, so no file the spec names is opened). The
// input is read as UTF-8 the way the loader reads a spec file (not UTF-8: refused). Built with
// Sources/JobSpec, the AdaNeg, NPY and Platform sources it uses, and Yams (its Swift sources as
// one module, CYaml's C code compiled with `-fsanitize=fuzzer-no-link,address`).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJobSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let text = String(data: Data(bytes: data, count: size), encoding: .utf8) else { return 0 }
    if let spec = try? JobSpecLoader.parse(yaml: text, baseDirectory: "/nonexistent/adaneg-fuzz", checkFiles: false) {
        _ = spec.name
    }
    return 0
}
