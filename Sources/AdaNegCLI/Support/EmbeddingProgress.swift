import Foundation
import NegMining

/// prompts/s and ETA on a terminal.
final class EmbeddingProgress {
    private let started = Date()
    private let terminal = isatty(2) != 0

    func show(done: Int, total: Int) {
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "embedded %d/%d prompts  %.0f prompts/s  ETA %.0f s", done, total, rate, eta)
        if terminal { StandardError.redraw(line) } else { StandardError.write(line + "\n") }
    }

    func finish() { if terminal { StandardError.write("\n") } }
}

extension NegativeMiner {
    /// Runs the miner with its notes and a progress line on standard error.
    func runShowingProgress() throws -> Outcome {
        let progress = EmbeddingProgress()
        defer { progress.finish() }
        do {
            return try run(log: { StandardError.write($0 + "\n") }, progress: progress.show)
        } catch let error as MiningError {
            throw CommandFailure(error.description)
        }
    }
}
