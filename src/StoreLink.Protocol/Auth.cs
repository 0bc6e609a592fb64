namespace StoreLink.Protocol;

/// <summary><c>POST /v1/auth/login</c>: a staff member's login (e-mail) and password.</summary>
public sealed record LoginRequest(string? Login, string? Password);

/// <summary><c>POST /v1/auth/visitor</c>: an anonymous web visitor of one store.</summary>
public sealed record VisitorRequest(string? StoreKey);

/// <summary><c>POST /v1/auth/customer</c>: a customer signed in by the store's own backend (HS256 JWT).</summary>
public sealed record CustomerAuthRequest(string? StoreKey, string? IdentityToken);

/// <summary>The answer to every call that hands out an access token.</summary>
public sealed record TokenResponse(string AccessToken, DateTimeOffset ExpiresAt, UserDto User);

/// <summary>Who a token belongs to. <c>kind</c> is <c>staff</c> or <c>customer</c>.</summary>
public sealed record UserDto(string Id, string Kind, string Name, string OrgId, IReadOnlyList<RoleDto>? Roles);

/// <summary>A staff role: <c>agent</c>, <c>technician</c> or <c>manager</c> of a store, or <c>org_admin</c> (no store).</summary>
public sealed record RoleDto(string? StoreId, string Role);

/// <summary>The role names.</summary>
public static class Roles
{
    /// <summary>Answers customers.</summary>
    public const string Agent = "agent";
    /// <summary>Repairs and cares; updates work items.</summary>
    public const string Technician = "technician";
    /// <summary>Runs a store.</summary>
    public const string Manager = "manager";
    /// <summary>Runs the whole organization.</summary>
    public const string OrgAdmin = "org_admin";

    /// <summary>The roles that belong to one store.</summary>
    public static readonly IReadOnlyList<string> StoreRoles = [Agent, Technician, Manager];
}
