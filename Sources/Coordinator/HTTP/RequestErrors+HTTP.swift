import Hummingbird
import JobProtocol
import JobSpec

/// The request errors of the API's own types answer as HTTP errors, as `StoreError` does
/// (`StoreError+HTTP.swift`): routes throw them as they are, and each type says once which
/// status it is, instead of each route mapping it by hand.

/// A refused bank sync: 400 for a malformed or out-of-range field (named), 409 for a sync that
/// does not fit the bank's state, and the store's own status for a store failure.
extension BankSyncRejection: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch self {
        case .invalid: .badRequest
        case .conflict: .conflict
        case let .store(error): error.status
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        if case let .store(error) = self { return try error.response(from: request, context: context) }
        return try HTTPError(status, message: description).response(from: request, context: context)
    }
}

/// A body that is not a bank sync (its header or its length): 400 naming the field.
extension BankWire.Problem: HTTPResponseError {
    public var status: HTTPResponse.Status { .badRequest }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(status, message: description).response(from: request, context: context)
    }
}

/// A submitted job spec that does not validate: 400 listing every problem.
extension JobSpecError: HTTPResponseError {
    public var status: HTTPResponse.Status { .badRequest }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(status, message: description).response(from: request, context: context)
    }
}
