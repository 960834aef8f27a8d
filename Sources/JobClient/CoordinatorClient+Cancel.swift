import Foundation
import JobProtocol

extension CoordinatorClient {
    /// `POST /v1/jobs/{name}/cancel`: drops the job's units not yet done.
    public func cancel(job: String) async throws -> CancelResponse {
        let name = job.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? job
        let path = "/v1/jobs/\(name)/cancel"
        let data = try await send("POST", path, body: Data(), contentType: "application/json")
        do {
            return try JSONDecoder().decode(CancelResponse.self, from: data)
        } catch {
            throw ClientError.malformedReply(path: path, reason: "\(error)")
        }
    }
}
