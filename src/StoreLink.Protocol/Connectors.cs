using System.Text.Json;

namespace StoreLink.Protocol;

/// <summary>
/// A connector: one external system of an organization (an order, after-sales or care system), where it lives, which
/// work-item kind and template it drives, and how its status values and fields map onto StoreLink's.
/// </summary>
public sealed record ConnectorDto(
    string Id, string OrgId, string Key, string Name, string BaseUrl, string Kind, string TemplateId, string? StoreId,
    IReadOnlyDictionary<string, string> StatusMap, IReadOnlyDictionary<string, string> FieldMap, string Mode, int? PollIntervalSeconds,
    bool Commands, bool ProfileLookup, bool Active, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Polling connectors: where the changes feed stands, when it was last read and its last error.</summary>
    public string? Cursor { get; init; }

    /// <summary>The last time a poll of the changes feed ended (with or without an error).</summary>
    public DateTimeOffset? LastPollAt { get; init; }

    /// <summary>Why the last poll failed; absent when it succeeded.</summary>
    public string? LastPollError { get; init; }
}

/// <summary><c>POST /v1/connectors</c>; <c>PATCH</c> takes any of these members (left out: unchanged).</summary>
public sealed record ConnectorRequest(
    string? Key, string? Name, string? BaseUrl, string? Kind, string? TemplateId, string? StoreId,
    Dictionary<string, string>? StatusMap, Dictionary<string, string>? FieldMap, string? Mode, int? PollIntervalSeconds,
    bool? Commands, bool? ProfileLookup, bool? Active);

/// <summary>The answer to creating a connector: its signing secret (<c>whsec_…</c>), for both directions.</summary>
public sealed record CreatedConnector(ConnectorDto Connector, string Secret);

/// <summary>One event a connector received (a hook) or fetched (polling), applied or not, with the reason.</summary>
public sealed record ConnectorEventDto(
    string Id, string ConnectorId, string? EventId, string Source, string? Type, string? ExternalId, long? Version, DateTimeOffset? OccurredAt,
    string Status, int? HttpStatus, string? Reason, JsonElement? Result, DateTimeOffset ReceivedAt, DateTimeOffset? FinishedAt);

/// <summary>A command sent to a connector's system for a customer's action, with every attempt.</summary>
public sealed record ConnectorCommandDto(
    string Id, string ConnectorId, string Type, string WorkItemId, string Status, int Attempts, bool Applied, string? Message, JsonElement? Result,
    JsonElement Payload, DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? FinishedAt,
    IReadOnlyList<ConnectorCommandAttemptDto> AttemptLog);

/// <summary>One HTTP attempt of a command.</summary>
public sealed record ConnectorCommandAttemptDto(DateTimeOffset AttemptedAt, long DurationMs, int? StatusCode, string? Error, string? Answer);

/// <summary><c>POST /v1/commands/{id}/result</c>: the system's later answer to a command it accepted with <c>202</c>.</summary>
public sealed record CommandResultRequest(string? Status, string? Message, JsonElement? Result);

/// <summary>
/// A customer's profile from the store's own system, for the customer panel: <c>status</c> is <c>ok</c>, <c>pending</c>
/// (asked, the answer is not in yet) or <c>unavailable</c> (the system failed or does not know the customer).
/// </summary>
public sealed record ExternalProfileDto(string Status, DateTimeOffset? FetchedAt, JsonElement? Customer, JsonElement? Orders);
