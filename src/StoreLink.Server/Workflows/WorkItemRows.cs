using System.Text.Json;

namespace StoreLink.Server.Workflows;

public sealed class WorkItemRow
{
    public const string Columns =
        "id, org_id, store_id, customer_id, kind, number, template_id, template_version, state, title, category, priority, assignee_id, team, fields, " +
        "attachment_ids, conversation_id, transcript_from, transcript_to, external_system, external_id, due_at, version, created_by, created_at, updated_at, " +
        "state_entered_at, closed_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string StoreId { get; set; } = "";
    public string CustomerId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Number { get; set; } = "";
    public string TemplateId { get; set; } = "";
    public long TemplateVersion { get; set; }
    public string State { get; set; } = "";
    public string Title { get; set; } = "";
    public string? Category { get; set; }
    public string Priority { get; set; } = "normal";
    public string? AssigneeId { get; set; }
    public string? Team { get; set; }
    public string Fields { get; set; } = "{}";
    public string AttachmentIds { get; set; } = "[]";
    public string? ConversationId { get; set; }
    public long? TranscriptFrom { get; set; }
    public long? TranscriptTo { get; set; }
    public string? ExternalSystem { get; set; }
    public string? ExternalId { get; set; }

    /// <summary>The number the customer knows the item by: the store system's (on their receipt) for an item from one, else ours.</summary>
    public string CustomerNumber => ExternalId ?? Number;

    public long? DueAt { get; set; }
    public long Version { get; set; }
    public string CreatedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
    public long StateEnteredAt { get; set; }
    public long? ClosedAt { get; set; }

    public Dictionary<string, JsonElement> FieldMap => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Fields) ?? [];
    public List<string> AttachmentList => JsonSerializer.Deserialize<List<string>>(AttachmentIds) ?? [];
}

public sealed class RequestRow
{
    public const string Columns = "id, work_item_id, title, price, currency, attachment_ids, status, created_by, created_at, decided_at";

    public string Id { get; set; } = "";
    public string WorkItemId { get; set; } = "";
    public string Title { get; set; } = "";
    public string Price { get; set; } = "";
    public string Currency { get; set; } = "CNY";
    public string AttachmentIds { get; set; } = "[]";
    public string Status { get; set; } = "pending";
    public string CreatedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? DecidedAt { get; set; }

    public List<string> AttachmentList => JsonSerializer.Deserialize<List<string>>(AttachmentIds) ?? [];

    /// <summary>What the customer reads: 追加防水处理 ¥30.</summary>
    public string Display => $"{Title} {(Currency == "CNY" ? "¥" : Currency + " ")}{Price}";

    public WorkItemRequestDto ToDto() => new(Id, Title, Price, Currency, AttachmentList, Status,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DecidedAt is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(DecidedAt.Value));
}

public sealed record ExternalRefDto(string? System, string? Id);

public sealed record TranscriptDto(string ConversationId, long FromSeq, long ToSeq);

/// <summary>An extra-work request or a quote, decided by the customer from the card.</summary>
public sealed record WorkItemRequestDto(
    string Id, string Title, string Price, string Currency, IReadOnlyList<string> AttachmentIds, string Status, DateTimeOffset CreatedAt, DateTimeOffset? DecidedAt);

/// <summary>An action the customer may take now: a card button.</summary>
public sealed record CustomerActionDto(string Id, string Label, string? Needs);

/// <summary>A ticket, order or care job. <c>transitions</c> (staff only) lists the states the caller may move it to now.</summary>
public sealed record WorkItemDto(
    string Id, string StoreId, string CustomerId, string CustomerName, string Kind, string Number, string TemplateId, int TemplateVersion,
    string State, string StateLabel, string CustomerStateLabel, bool Terminal, string Title, string? Category, string? CategoryLabel, string Priority,
    string? AssigneeId, string? AssigneeName, string? Team, IReadOnlyDictionary<string, JsonElement> Fields, IReadOnlyList<string> AttachmentIds,
    string? ConversationId, TranscriptDto? Transcript, ExternalRefDto? ExternalRef, DateTimeOffset? DueAt, bool Overdue, int Version,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset StateEnteredAt,
    IReadOnlyList<CustomerActionDto> CustomerActions, IReadOnlyList<WorkItemRequestDto> Requests, IReadOnlyList<string>? Transitions);

/// <summary><c>POST /v1/work-items</c>. Staff and API keys give the store and customer; a customer gives <c>store_key</c> and a description.</summary>
public sealed record CreateWorkItemRequest(
    string? StoreId, string? StoreKey, string? Kind, string? TemplateId, string? CustomerId, string? ConversationId, string? Title, string? Description,
    string? Category, string? Priority, Dictionary<string, JsonElement>? Fields, List<string>? AttachmentIds, long? TranscriptFrom, long? TranscriptTo,
    string? AssigneeId, string? Team, ExternalRefDto? ExternalRef, DateTimeOffset? DueAt);

/// <summary><c>PATCH /v1/work-items/{id}</c>: members left out stay; <c>fields</c> merges (a null value removes a field).</summary>
public sealed record UpdateWorkItemRequest(
    string? Title, string? Category, string? Priority, Dictionary<string, JsonElement>? Fields, string? AssigneeId, string? Team, DateTimeOffset? DueAt,
    bool? Unassign);

/// <summary>
/// <c>POST /v1/work-items/{id}/transition</c>. <c>request</c>: a quote or extra work made with the move, in the same
/// change, so the customer gets one card that carries its actions (待客户确认报价 with the price).
/// </summary>
public sealed record TransitionRequest(string? To, string? Note, CreateRequestRequest? Request = null);

/// <summary><c>POST /v1/work-items/{id}/requests</c>: extra work or a quote, with photos, for the customer to approve.</summary>
public sealed record CreateRequestRequest(string? Title, string? Price, string? Currency, List<string>? AttachmentIds);

/// <summary>
/// <c>POST /v1/work-items/{id}/actions</c> (the item's customer): <c>action</c> is a card action id (<c>approve:req_…</c>,
/// <c>decline:req_…</c>, or a state's action such as <c>confirm_pickup</c>). <c>action_id</c> makes it idempotent (default:
/// the action and the state it was offered in, so a double tap does one thing).
/// </summary>
public sealed record CustomerActionRequest(string? Action, string? ActionId, string? Note, List<string>? AttachmentIds, JsonElement? Address);

/// <summary><c>POST /v1/work-items/{id}/migrate</c>: move an item in flight to another version of its template.</summary>
public sealed record MigrateRequest(int? Version);

public static class WorkItemKinds
{
    public static string Prefix(string kind) => kind switch { "ticket" => "T", "order" => "O", _ => "C" };
}
