using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// Issues, checks and revokes bearer credentials: access tokens of staff and customers, and API keys of
/// integrations. Every check reads the database, so a revocation holds at once on every node.
/// </summary>
public sealed class Tokens(Db db, TimeProvider clock, IOptions<AuthOptions> options)
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    private const string TokenSql = """
        SELECT t.user_kind, t.user_id, t.org_id, t.expires_at, t.revoked_at,
               s.name AS staff_name, s.disabled_at, c.name AS customer_name, c.visitor_store_id, c.attributes AS customer_attributes
        FROM access_tokens t
        LEFT JOIN staff s ON t.user_kind = 'staff' AND s.id = t.user_id
        LEFT JOIN customers c ON t.user_kind = 'customer' AND c.id = t.user_id
        WHERE t.token_hash = @hash
        """;


    public async Task<(string Token, DateTimeOffset ExpiresAt)> IssueAsync(UserKind kind, string userId, string orgId, CancellationToken ct)
    {
        var token = Secrets.NewAccessToken();
        var now = clock.GetUtcNow();
        var expires = now + (kind == UserKind.Staff ? options.Value.StaffTokenLifetime : options.Value.CustomerTokenLifetime);
        await db.ExecuteAsync("""
            INSERT INTO access_tokens (token_hash, user_kind, user_id, org_id, created_at, expires_at)
            VALUES (@hash, @kind, @userId, @orgId, @now, @expires)
            """,
            new
            {
                hash = Secrets.Hash(token), kind = kind == UserKind.Staff ? "staff" : "customer", userId, orgId,
                now = now.ToUnixTimeMilliseconds(), expires = expires.ToUnixTimeMilliseconds(),
            }, ct);
        return (token, DateTimeOffset.FromUnixTimeMilliseconds(expires.ToUnixTimeMilliseconds()));
    }

    /// <summary>
    /// The caller behind a bearer credential, or null when it is unknown, expired, revoked or disabled. Staff and API
    /// clients read texts in the <paramref name="requestLanguage"/>, customers in their own (<see cref="Texts"/>).
    /// </summary>
    public async Task<CurrentUser?> AuthenticateAsync(string credential, string requestLanguage, CancellationToken ct)
    {
        if (credential.Length is < 8 or > 256)
            return null;
        var hash = Secrets.Hash(credential);
        var user = credential.StartsWith(Secrets.ApiKeyPrefix, StringComparison.Ordinal)
            ? await ApiClientAsync(hash, ct)
            : await AccessTokenAsync(hash, ct);
        return user is null or { IsCustomer: true } ? user : user with { Language = requestLanguage };
    }

    private async Task<CurrentUser?> AccessTokenAsync(string hash, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TokenRow>(new CommandDefinition(TokenSql, new { hash }, cancellationToken: ct));
        if (row is null || row.RevokedAt is not null || row.ExpiresAt <= clock.GetUtcNow().ToUnixTimeMilliseconds())
            return null;
        if (row.UserKind == "staff")
        {
            if (row.StaffName is null || row.DisabledAt is not null)
                return null;
            var roles = (await connection.QueryAsync<RoleDto>(new CommandDefinition(StaffRow.SelectRoles, new { staffId = row.UserId }, cancellationToken: ct))).AsList();
            return new CurrentUser(row.UserId, UserKind.Staff, row.OrgId, row.StaffName, roles, EmptySet, null, hash) { ExpiresAt = Time(row.ExpiresAt) };
        }
        var language = Texts.LanguageOf(row.CustomerAttributes);
        return new CurrentUser(row.UserId, UserKind.Customer, row.OrgId, CustomerNames.Display(row.UserId, row.CustomerName, language),
            [], EmptySet, row.VisitorStoreId, hash) { Language = language, ExpiresAt = Time(row.ExpiresAt) };
    }

    private async Task<CurrentUser?> ApiClientAsync(string hash, CancellationToken ct)
    {
        var row = await db.QuerySingleOrDefaultAsync<ApiClientRow>(ApiClientRow.SelectByKeyHash, new { hash }, ct);
        if (row is null || row.RevokedAt is not null)
            return null;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        // Record use at a coarse resolution so a busy integration does not write on every request.
        if (row.LastUsedAt is null || now - row.LastUsedAt >= (long)LastUsedResolution.TotalMilliseconds)
            await db.ExecuteAsync("UPDATE api_clients SET last_used_at = @now WHERE id = @id", new { now, id = row.Id }, ct);
        var permissions = JsonSerializer.Deserialize<string[]>(row.Permissions) ?? [];
        return new CurrentUser(row.Id, UserKind.ApiClient, row.OrgId, row.Name, [], permissions.ToHashSet(), row.StoreId, null);
    }

    /// <summary>Revokes one access token by its hash. Answers whether it was live.</summary>
    public async Task<bool> RevokeAsync(string tokenHash, CancellationToken ct) =>
        await db.ExecuteAsync("UPDATE access_tokens SET revoked_at = @now WHERE token_hash = @tokenHash AND revoked_at IS NULL",
            new { now = clock.GetUtcNow().ToUnixTimeMilliseconds(), tokenHash }, ct) > 0;

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static readonly IReadOnlySet<string> EmptySet = new HashSet<string>();

    private sealed class TokenRow
    {
        public string UserKind { get; set; } = "";
        public string UserId { get; set; } = "";
        public string OrgId { get; set; } = "";
        public long ExpiresAt { get; set; }
        public long? RevokedAt { get; set; }
        public string? StaffName { get; set; }
        public long? DisabledAt { get; set; }
        public string? CustomerName { get; set; }
        public string? VisitorStoreId { get; set; }
        public string? CustomerAttributes { get; set; }
    }
}
