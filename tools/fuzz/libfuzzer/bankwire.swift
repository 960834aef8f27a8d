// libFuzzer target: the bank-sync wire format 2 (`BankWire`) as both ends receive it: the input
// as a worker's request (`decodeRequest`, the dimension from its header, as the coordinator reads
// it) and as a coordinator's reply (`decodeReply`, the first byte picking the task's dimension);
// then a re-encode and decode of what was read, which must give the same entries and fields.
// Built with Sources/JobProtocol/{BankWire,BankSync}.swift and Sources/AdaNegCore/Bank.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBankWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let whole = Data(bytes: data, count: size)
    if let (dimension, request) = try? BankWire.decodeRequest(whole) {
        let again = BankWire.encode(request, dimension: dimension)
        guard let (d, round) = try? BankWire.decodeRequest(again), d == dimension,
              round.since == request.since, round.position == request.position,
              round.delta.entries.count == request.delta.entries.count else {
            fatalError("a decoded request does not survive encode + decode")
        }
    }
    let dimension = Int(data[0] % 16) + 1
    let body = Data(bytes: data + 1, count: size - 1)
    if let reply = try? BankWire.decodeReply(body, dimension: dimension) {
        let again = BankWire.encode(reply, since: 0, position: 0, dimension: dimension)
        guard let round = try? BankWire.decodeReply(again, dimension: dimension), round.version == reply.version,
              round.behind == reply.behind, round.frontier == reply.frontier, round.window == reply.window,
              round.delta.entries.count == reply.delta.entries.count else {
            fatalError("a decoded reply does not survive encode + decode")
        }
    }
    return 0
}
