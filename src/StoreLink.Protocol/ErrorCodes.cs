namespace StoreLink.Protocol;

/// <summary>
/// The stable error codes of the wire protocol, shared by REST (<c>code</c> in a problem document)
/// and WebSocket (<c>code</c> in an <c>error</c> frame). Clients branch on these, never on messages.
/// </summary>
public static class ErrorCodes
{
    /// <summary>401: no credentials, or credentials that are unknown, expired or revoked.</summary>
    public const string Unauthorized = "unauthorized";
    /// <summary>403: the caller is known but may not do this.</summary>
    public const string Forbidden = "forbidden";
    /// <summary>404: no such object, or one the caller may not see.</summary>
    public const string NotFound = "not_found";
    /// <summary>400: malformed or invalid request.</summary>
    public const string InvalidRequest = "invalid_request";
    /// <summary>413: a body, frame, upload or field over its limit.</summary>
    public const string TooLarge = "too_large";
    /// <summary>
    /// 413 on an upload: the organization's storage quota is full. Unlike <see cref="TooLarge"/>, a smaller file does
    /// not help; the organization must free space or raise its quota.
    /// </summary>
    public const string QuotaExceeded = "quota_exceeded";
    /// <summary>409: the request conflicts with the current state.</summary>
    public const string Conflict = "conflict";
    /// <summary>422: well-formed but not allowed now (idempotency key reuse, forbidden transition).</summary>
    public const string Unprocessable = "unprocessable";
    /// <summary>429: too many requests; see <c>Retry-After</c>.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>503: a dependency (such as the database) is unavailable.</summary>
    public const string Unavailable = "unavailable";
    /// <summary>500: a fault of the server.</summary>
    public const string Internal = "internal";

    /// <summary>401 on a signed inbound hook: no signature, a wrong one, or an unknown or inactive connector.</summary>
    public const string InvalidSignature = "invalid_signature";
    /// <summary>401 on a signed inbound hook: <c>webhook-timestamp</c> more than 5 minutes from the server's clock.</summary>
    public const string StaleTimestamp = "stale_timestamp";
    /// <summary>409 on a signed inbound hook: this <c>webhook-id</c> was accepted before; nothing was applied again.</summary>
    public const string Replayed = "replayed";

    /// <summary>The HTTP status that goes with a code.</summary>
    public static int StatusOf(string code) => code switch
    {
        Unauthorized or InvalidSignature or StaleTimestamp => 401,
        Forbidden => 403,
        NotFound => 404,
        InvalidRequest => 400,
        TooLarge or QuotaExceeded => 413,
        Conflict or Replayed => 409,
        Unprocessable => 422,
        RateLimited => 429,
        Unavailable => 503,
        _ => 500,
    };

    /// <summary>The code that goes with an HTTP status, for errors raised by the framework itself.</summary>
    public static string ForStatus(int status) => status switch
    {
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        413 => TooLarge,
        409 => Conflict,
        422 => Unprocessable,
        429 => RateLimited,
        503 => Unavailable,
        >= 400 and < 500 => InvalidRequest,
        _ => Internal,
    };
}
