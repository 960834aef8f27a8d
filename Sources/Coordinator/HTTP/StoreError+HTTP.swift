import Hummingbird
import JobStore
import Logging

/// A store error answers as an HTTP error (Hummingbird's `HTTPResponseError`), so routes throw
/// it as it is: the status says whose fault it is (404 unknown, 409 conflict, 400 bad input)
/// and the body carries the message, in the shape every API error has.
extension StoreError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch self {
        case .unknownJob, .unknownUnit, .unknownTask: .notFound
        case .notLeaseHolder, .jobConflict, .inputChanged: .conflict
        case .invalidResults, .invalidJob: .badRequest
        // The only 5xx the API gives: the store failed (a full disk, an unreadable file).
        case .database, .newerSchema, .inUse, .foreign: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        // Workers retry a 5xx; the operator needs to see it here.
        if status == .internalServerError { Logger(label: "adaneg.coordinator").error("request failed in the store: \(description)") }
        return try HTTPError(status, message: description).response(from: request, context: context)
    }
}
