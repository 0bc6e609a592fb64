using System.Reflection;
using StoreLink.Protocol;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public enum UserKind { Staff, Customer, ApiClient }

/// <summary>
/// The authenticated caller of a request or a socket: a staff member, a customer (or anonymous visitor)
/// or an integration's API client. Built once per request by <see cref="BearerAuthenticationHandler"/>;
/// endpoints take it as a parameter.
/// </summary>
public sealed record CurrentUser(
    string Id,
    UserKind Kind,
    string OrgId,
    string Name,
    IReadOnlyList<RoleDto> Roles,
    IReadOnlySet<string> Permissions,
    string? StoreId,
    string? TokenHash)
{
    public const string ItemKey = "StoreLink.CurrentUser";

    /// <summary>When the access token runs out (null for API keys): a socket of this caller closes then (4001).</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The client's address and user agent on this request or socket, for the audit log.</summary>
    public string? Address { get; init; }

    public string? UserAgent { get; init; }

    /// <summary>This caller as seen on <paramref name="http"/>: its client address and user agent.</summary>
    public CurrentUser From(HttpContext http) => this with { Address = AddressOf(http), UserAgent = UserAgentOf(http) };

    public static string? AddressOf(HttpContext http) => http.Connection.RemoteIpAddress?.ToString();

    public static string? UserAgentOf(HttpContext http) =>
        http.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent[..Math.Min(agent.Length, 300)] : null;

    public bool IsStaff => Kind == UserKind.Staff;
    public bool IsCustomer => Kind == UserKind.Customer;
    public bool IsApiClient => Kind == UserKind.ApiClient;
    public bool IsOrgAdmin => IsStaff && Roles.Any(r => r.Role == Protocol.Roles.OrgAdmin);

    /// <summary>The language texts for this caller are written in (<see cref="Texts"/>): a customer's stored one, else the request's.</summary>
    public string Language { get; init; } = Texts.DefaultLanguage;

    /// <summary>Staff with one of <paramref name="roles"/> (any role if none given) in the store, or the org admin.</summary>
    public bool HasStoreRole(string storeId, params string[] roles) =>
        IsOrgAdmin || (IsStaff && Roles.Any(r => r.StoreId == storeId && (roles.Length == 0 || roles.Contains(r.Role))));

    /// <summary>The stores this staff member has any role in (org admins: see <see cref="IsOrgAdmin"/>).</summary>
    public IEnumerable<string> StoreIds => Roles.Where(r => r.StoreId is not null).Select(r => r.StoreId!).Distinct();

    /// <summary>An API client must hold the permission; staff and customers are checked by <see cref="Access"/> instead.</summary>
    public void RequirePermission(string permission)
    {
        if (IsApiClient && !Permissions.Contains(permission))
            throw ApiException.Forbidden($"This API key lacks the permission '{permission}'.");
    }

    public UserDto ToDto() => new(Id, IsStaff ? "staff" : IsCustomer ? "customer" : "api_client", Name, OrgId, IsStaff ? Roles : null);

    /// <summary>Minimal API parameter binding: endpoints declare <c>CurrentUser user</c>.</summary>
    public static ValueTask<CurrentUser?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<CurrentUser?>(context.Items[ItemKey] as CurrentUser ?? throw ApiException.Unauthorized());
}
