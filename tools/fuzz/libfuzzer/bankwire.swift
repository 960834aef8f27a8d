// libFuzzer target: the bank-delta wire format (`BankWire.decode`) as the coordinator receives
// it (the first byte picks the task's dimension), then a re-encode and decode of what it read.
// Built with Sources/JobProtocol/BankWire.swift and Sources/AdaNegCore/Bank.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBankWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let dimension = Int(data[0] % 16) + 1
    let body = Data(bytes: data + 1, count: size - 1)
    if let (delta, version) = try? BankWire.decode(body, dimension: dimension) {
        let again = BankWire.encode(delta, dimension: dimension, version: version)
        guard let (round, _) = try? BankWire.decode(again, dimension: dimension), round.entries.count == delta.entries.count else {
            fatalError("a decoded delta does not survive encode + decode")
        }
    }
    return 0
}
