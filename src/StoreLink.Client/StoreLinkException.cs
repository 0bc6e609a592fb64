namespace StoreLink.Client;

/// <summary>An error answered by the server, with its stable protocol code (see <c>StoreLink.Protocol.ErrorCodes</c>).</summary>
public sealed class StoreLinkException(string code, int status, string message, IReadOnlyDictionary<string, string[]>? errors = null)
    : Exception(message)
{
    /// <summary>The stable code, such as <c>not_found</c> or <c>rate_limited</c>.</summary>
    public string Code { get; } = code;

    /// <summary>The HTTP status (0 for WebSocket errors).</summary>
    public int Status { get; } = status;

    /// <summary>For <c>invalid_request</c>: the offending fields and what is wrong with them.</summary>
    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;

    /// <summary>For <c>rate_limited</c>: how long the server asked to wait.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
