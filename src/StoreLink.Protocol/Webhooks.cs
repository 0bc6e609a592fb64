using System.Text.Json;

namespace StoreLink.Protocol;

/// <summary>The events an outbound webhook subscription can ask for.</summary>
public static class WebhookEventTypes
{
    /// <summary>A message was stored in a service conversation.</summary>
    public const string MessageCreated = "message.created";
    /// <summary>A service conversation was assigned to an agent (by routing, a claim, a transfer or a manager).</summary>
    public const string ConversationAssigned = "conversation.assigned";
    /// <summary>A service conversation was resolved.</summary>
    public const string ConversationResolved = "conversation.resolved";
    /// <summary>A work item was created.</summary>
    public const string WorkItemCreated = "work_item.created";
    /// <summary>A work item entered another state.</summary>
    public const string WorkItemStateChanged = "work_item.state_changed";
    /// <summary>A customer acted from a work item's card (approved, declined, changed the address…).</summary>
    public const string CustomerActionTaken = "customer_action.taken";
    /// <summary>A customer rated a resolved conversation.</summary>
    public const string CsatGiven = "csat.given";
    /// <summary>A call became active (someone besides the caller joined).</summary>
    public const string CallStarted = "call.started";
    /// <summary>A call ended (with its <c>end_reason</c>, <c>duration_ms</c> and <c>quality</c>).</summary>
    public const string CallEnded = "call.ended";
    /// <summary>A test event sent on request to one subscription only.</summary>
    public const string Ping = "webhook.ping";

    /// <summary>Every event a subscription may filter on.</summary>
    public static readonly IReadOnlyList<string> All =
        [MessageCreated, ConversationAssigned, ConversationResolved, WorkItemCreated, WorkItemStateChanged, CustomerActionTaken, CsatGiven, CallStarted, CallEnded];
}

/// <summary>The body of every webhook request: a stable event id, its type and time, where it happened, and the object.</summary>
public sealed record WebhookEventDto(string Id, string Type, DateTimeOffset CreatedAt, string OrgId, string? StoreId, JsonElement Data);

/// <summary>An outbound webhook subscription (the secret only in <see cref="CreatedWebhookSubscription"/> and the secret call).</summary>
public sealed record WebhookSubscriptionDto(
    string Id, string OrgId, string Url, IReadOnlyList<string> Events, string? Description, bool Active,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary><c>POST /v1/webhooks</c>: an empty or missing <c>events</c> means every event.</summary>
public sealed record CreateWebhookRequest(string? Url, List<string>? Events, string? Description, bool? Active);

/// <summary><c>PATCH /v1/webhooks/{id}</c>: members left out keep their values.</summary>
public sealed record UpdateWebhookRequest(string? Url, List<string>? Events, string? Description, bool? Active);

/// <summary>The answer to creating a subscription: its signing secret (<c>whsec_…</c>).</summary>
public sealed record CreatedWebhookSubscription(WebhookSubscriptionDto Subscription, string Secret);

/// <summary>A subscription's signing secret.</summary>
public sealed record WebhookSecretDto(string Secret);

/// <summary>One event for one subscription, with its delivery state.</summary>
public sealed record WebhookDeliveryDto(
    string SubscriptionId, string EventId, string EventType, string Status, int Attempts, DateTimeOffset CreatedAt,
    DateTimeOffset? NextAttemptAt, DateTimeOffset? LastAttemptAt, int? LastStatusCode, string? LastError, DateTimeOffset? FinishedAt,
    JsonElement? Payload, IReadOnlyList<WebhookAttemptDto>? AttemptLog);

/// <summary>One HTTP attempt of a delivery.</summary>
public sealed record WebhookAttemptDto(DateTimeOffset AttemptedAt, long DurationMs, int? StatusCode, string? Error, bool Succeeded);
