using System.Text.Json;

namespace StoreLink.Protocol;

/// <summary>One opening interval of a day, local time of the store, <c>HH:mm</c>.</summary>
public sealed record HoursRange(string Open, string Close);

/// <summary>A store of an organization. <c>kind</c> is <c>direct</c> or <c>franchise</c>.</summary>
public sealed record StoreDto(
    string Id, string OrgId, string StoreKey, string Name, string Kind, string TimeZone,
    IReadOnlyDictionary<string, IReadOnlyList<HoursRange>> BusinessHours, DateTimeOffset CreatedAt)
{
    /// <summary>Target for the first answer to a customer, in business minutes.</summary>
    public int SlaFirstResponseMinutes { get; init; } = 5;

    /// <summary>Target for resolving a conversation, in business minutes.</summary>
    public int SlaResolutionMinutes { get; init; } = 480;

    /// <summary>When non-urgent notifications to customers wait (local time); null: never.</summary>
    public QuietHoursDto? QuietHours { get; init; }

    /// <summary>The kinds of work item (<c>ticket</c>, <c>order</c>, <c>care_job</c>) customers may start from the widget (报修).</summary>
    public IReadOnlyList<string> CustomerWorkKinds { get; init; } = [];

    /// <summary>Whether staff may record calls in this store (the customer is told first); off unless the manager turns it on.</summary>
    public bool CallsRecording { get; init; }
}

/// <summary>Quiet hours, local <c>HH:mm</c>; <c>start</c> after <c>end</c> spans midnight (21:00–08:30).</summary>
public sealed record QuietHoursDto(string? Start, string? End);

/// <summary><c>POST /v1/stores</c>. Business hours are keyed <c>mon</c> … <c>sun</c>.</summary>
public sealed record CreateStoreRequest(
    string? StoreKey, string? Name, string? Kind, string? TimeZone,
    Dictionary<string, List<HoursRange>>? BusinessHours);

/// <summary><c>PATCH /v1/stores/{id}</c>: members left out stay as they are.</summary>
public sealed record UpdateStoreRequest(
    string? Name, string? Kind, string? TimeZone, Dictionary<string, List<HoursRange>>? BusinessHours,
    int? SlaFirstResponseMinutes = null, int? SlaResolutionMinutes = null, QuietHoursDto? QuietHours = null, List<string>? CustomerWorkKinds = null,
    bool? CallsRecording = null);

/// <summary>A staff member.</summary>
public sealed record StaffDto(
    string Id, string OrgId, string Login, string Name, IReadOnlyList<RoleDto> Roles, bool Disabled, DateTimeOffset CreatedAt)
{
    /// <summary>Most service conversations assigned to this person at once.</summary>
    public int Capacity { get; init; } = 5;
}

/// <summary><c>POST /v1/staff</c> (org admins).</summary>
public sealed record CreateStaffRequest(string? Login, string? Name, string? Password, List<RoleDto>? Roles);

/// <summary><c>PUT /v1/staff/{id}/roles</c> (org admins): the whole new set of roles.</summary>
public sealed record SetRolesRequest(List<RoleDto>? Roles);

/// <summary>A customer of an organization; <c>external_id</c> is their id in the store's own account system.</summary>
public sealed record CustomerDto(
    string Id, string OrgId, string? ExternalId, string? Name, string? Phone, int VipLevel, bool Visitor,
    IReadOnlyDictionary<string, JsonElement> Attributes, IReadOnlyList<PurchaseDto>? Purchases,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>One purchase in a customer's history. <c>amount</c> is a decimal string in <c>currency</c>.</summary>
public sealed record PurchaseDto(string OrderNo, string? StoreId, string Item, string Amount, string Currency, DateTimeOffset PurchasedAt);

/// <summary><c>POST /v1/customers</c>: create or update the customer with this <c>external_id</c>.</summary>
public sealed record UpsertCustomerRequest(
    string? ExternalId, string? Name, string? Phone, int? VipLevel,
    Dictionary<string, JsonElement>? Attributes, List<PurchaseDto>? Purchases);

/// <summary>An API client of an integration: a key scoped to an organization, optionally one store.</summary>
public sealed record ApiClientDto(
    string Id, string OrgId, string? StoreId, string Name, IReadOnlyList<string> Permissions, string KeyPrefix,
    DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary><c>POST /v1/api-clients</c> (org admins).</summary>
public sealed record CreateApiClientRequest(string? Name, string? StoreId, List<string>? Permissions);

/// <summary>The answer to creating an API client: the key is shown this once and stored only as a hash.</summary>
public sealed record CreatedApiClient(ApiClientDto ApiClient, string Key);

/// <summary>The named permissions an API client can hold.</summary>
public static class Permissions
{
    /// <summary>Read customers and their purchase history.</summary>
    public const string CustomersRead = "customers:read";
    /// <summary>Create and update customers.</summary>
    public const string CustomersWrite = "customers:write";
    /// <summary>Read stores.</summary>
    public const string StoresRead = "stores:read";

    /// <summary>Read work items (tickets, orders, care jobs) and their timelines.</summary>
    public const string WorkItemsRead = "work_items:read";
    /// <summary>Create work items and change their state, fields and assignment.</summary>
    public const string WorkItemsWrite = "work_items:write";

    /// <summary>Read service conversations and their transcripts.</summary>
    public const string ConversationsRead = "conversations:read";
    /// <summary>Post messages as the store's system and send templated notifications to customers.</summary>
    public const string MessagesWrite = "messages:write";

    /// <summary>Manage the organization's webhook subscriptions and read their deliveries (organization-wide keys only).</summary>
    public const string WebhooksManage = "webhooks:manage";

    /// <summary>Manage the organization's connectors to its own systems and read their logs (organization-wide keys only).</summary>
    public const string ConnectorsManage = "connectors:manage";

    /// <summary>Every permission there is.</summary>
    public static readonly IReadOnlyList<string> All =
        [CustomersRead, CustomersWrite, StoresRead, WorkItemsRead, WorkItemsWrite, ConversationsRead, MessagesWrite, WebhooksManage, ConnectorsManage];
}

/// <summary>
/// One entry of the security log (<c>GET /v1/audit-events</c>): who (<c>actor_kind</c> <c>staff</c>, <c>api_client</c>
/// or <c>anonymous</c>), what (<c>action</c> on a target, small <c>details</c>), from where (<c>address</c>,
/// <c>user_agent</c>) and when.
/// </summary>
public sealed record AuditEventDto(
    string Id, string Action, string ActorKind, string? ActorId, string? ActorName, string? TargetType, string? TargetId,
    JsonElement Details, string? Address, string? UserAgent, DateTimeOffset CreatedAt);
