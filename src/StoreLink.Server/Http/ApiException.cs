using StoreLink.Protocol;

namespace StoreLink.Server.Http;

/// <summary>
/// The one error type of the server: a stable protocol code, a message for people and, for validation,
/// the offending fields (snake_case, as on the wire). Mapped once to a problem document or a WebSocket error frame.
/// </summary>
public sealed class ApiException(string code, string message, IDictionary<string, string[]>? errors = null) : Exception(message)
{
    public string Code { get; } = code;
    public int Status => ErrorCodes.StatusOf(Code);
    public IDictionary<string, string[]>? Errors { get; } = errors;

    /// <summary>Seconds the client should wait, for <c>rate_limited</c>.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException NotFound(string what = "The object") => new(ErrorCodes.NotFound, $"{what} was not found.");
    public static ApiException Forbidden(string message = "You may not do this.") => new(ErrorCodes.Forbidden, message);
    public static ApiException Unauthorized(string message = "Sign in first.") => new(ErrorCodes.Unauthorized, message);
    public static ApiException Invalid(string message) => new(ErrorCodes.InvalidRequest, message);
    public static ApiException Conflict(string message) => new(ErrorCodes.Conflict, message);
}
