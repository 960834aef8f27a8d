/// A kernel launch as `cuLaunchKernel` takes it: the function's name, the grid and block, and
/// the argument values in kernels.cu's parameter order.
struct LaunchPlan: Equatable {
    enum Argument: Equatable {
        case pointer(UInt64)
        case int32(Int32)
        case int64(Int64)
        case float(Float)
    }

    var name: String
    var grid: Int
    var block: Int
    var arguments: [Argument]

    static let elementBlock = 256
    static let rowBlock = 256

    /// Grid-stride kernels: enough blocks to cover `count` (the loop covers the rest).
    static func elementGrid(_ count: Int) -> Int { max(1, min((count + elementBlock - 1) / elementBlock, 1 << 20)) }

    init(name: String, grid: Int, block: Int, arguments: [Argument]) {
        self.name = name
        self.grid = grid
        self.block = block
        self.arguments = arguments
    }

    /// The launch of `call` (a null pointer for an absent optional output).
    init(_ call: KernelCall) {
        func p(_ b: DeviceBuffer?) -> Argument { .pointer(b?.address ?? 0) }
        func i(_ v: Int) -> Argument { .int32(Int32(clamping: v)) }
        let name = call.kernelName
        switch call {
        case let .pixelsToPatches(pixels, patches, batch, size, patch, mean, std):
            let count = batch * (size / patch) * (size / patch) * 3 * patch * patch
            let m = mean + [0, 0, 0], s = std + [1, 1, 1]
            self.init(name: name, grid: Self.elementGrid(count), block: Self.elementBlock,
                      arguments: [p(pixels), p(patches), i(batch), i(size), i(patch),
                                  .float(m[0]), .float(m[1]), .float(m[2]), .float(s[0]), .float(s[1]), .float(s[2])])
        case let .assembleTokens(patchOut, cls, pos, x, batch, tokens, hidden):
            self.init(name: name, grid: Self.elementGrid(batch * tokens * hidden), block: Self.elementBlock,
                      arguments: [p(patchOut), p(cls), p(pos), p(x), i(batch), i(tokens), i(hidden)])
        case let .embedTokens(ids, table, pos, x, rows, seq, hidden):
            self.init(name: name, grid: Self.elementGrid(rows * hidden), block: Self.elementBlock,
                      arguments: [p(ids), p(table), p(pos), p(x), i(rows), i(seq), i(hidden)])
        case let .layerNorm(x, gamma, beta, outF, outLow, rows, cols, eps):
            self.init(name: name, grid: rows, block: Self.rowBlock,
                      arguments: [p(x), p(gamma), p(beta), p(outF), p(outLow), i(rows), i(cols), .float(eps)])
        case let .biasActivation(input, bias, out, rows, cols, activation):
            self.init(name: name, grid: Self.elementGrid(rows * cols), block: Self.elementBlock,
                      arguments: [p(input), p(bias), p(out), i(rows), i(cols), .int32(activation?.kernelCode ?? 0)])
        case let .addBias(x, bias, rows, cols):
            self.init(name: name, grid: Self.elementGrid(rows * cols), block: Self.elementBlock,
                      arguments: [p(x), p(bias), i(rows), i(cols)])
        case let .splitHeads(qkv, bias, q, k, v, batch, seq, heads, headDim):
            self.init(name: name, grid: Self.elementGrid(batch * seq * 3 * heads * headDim), block: Self.elementBlock,
                      arguments: [p(qkv), p(bias), p(q), p(k), p(v), i(batch), i(seq), i(heads), i(headDim)])
        case let .softmax(scores, probs, rows, seq, causal):
            self.init(name: name, grid: rows, block: seq <= 128 ? 128 : Self.rowBlock,
                      arguments: [p(scores), p(probs), i(rows), i(seq), .int32(causal ? 1 : 0)])
        case let .mergeHeads(o, out, batch, seq, heads, headDim):
            self.init(name: name, grid: Self.elementGrid(batch * seq * heads * headDim), block: Self.elementBlock,
                      arguments: [p(o), p(out), i(batch), i(seq), i(heads), i(headDim)])
        case let .gatherRows(x, rows, out, count, cols):
            self.init(name: name, grid: Self.elementGrid(count * cols), block: Self.elementBlock,
                      arguments: [p(x), p(rows), p(out), i(count), i(cols)])
        case let .l2Normalize(x, rows, cols):
            self.init(name: name, grid: rows, block: Self.rowBlock, arguments: [p(x), i(rows), i(cols)])
        case let .castToLow(input, out, count):
            self.init(name: name, grid: Self.elementGrid(count), block: Self.elementBlock,
                      arguments: [p(input), p(out), .int64(Int64(count))])
        }
    }

    /// Calls `body` with `void**` pointing at each argument's value (8-byte slots).
    func withParameters<R>(_ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> R) -> R {
        let slots = UnsafeMutableRawPointer.allocate(byteCount: max(1, arguments.count) * 8, alignment: 8)
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(1, arguments.count))
        defer { slots.deallocate(); pointers.deallocate() }
        for (index, argument) in arguments.enumerated() {
            let slot = slots + index * 8
            switch argument {
            case let .pointer(v): slot.storeBytes(of: v, as: UInt64.self)
            case let .int32(v): slot.storeBytes(of: v, as: Int32.self)
            case let .int64(v): slot.storeBytes(of: v, as: Int64.self)
            case let .float(v): slot.storeBytes(of: v, as: Float.self)
            }
            pointers[index] = slot
        }
        return body(pointers)
    }
}
