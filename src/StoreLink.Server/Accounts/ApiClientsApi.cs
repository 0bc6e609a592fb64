using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

public sealed class ApiClientRow
{
    private const string Columns = "id, org_id, store_id, name, permissions, key_prefix, created_at, last_used_at, revoked_at";
    public const string SelectById = $"SELECT {Columns} FROM api_clients WHERE id = @id";
    public const string SelectByOrg = $"SELECT {Columns} FROM api_clients WHERE org_id = @orgId ORDER BY created_at, id";
    public const string SelectByKeyHash = $"SELECT {Columns} FROM api_clients WHERE key_hash = @hash";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string? StoreId { get; set; }
    public string Name { get; set; } = "";
    public string Permissions { get; set; } = "[]";
    public string KeyPrefix { get; set; } = "";
    public long CreatedAt { get; set; }
    public long? LastUsedAt { get; set; }
    public long? RevokedAt { get; set; }

    public ApiClientDto ToDto() => new(Id, OrgId, StoreId, Name, JsonSerializer.Deserialize<string[]>(Permissions) ?? [], KeyPrefix,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), Time(LastUsedAt), Time(RevokedAt));

    private static DateTimeOffset? Time(long? ms) => ms is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms.Value);
}

/// <summary>API keys of integrations, managed by org admins. A key is shown once at creation; only its hash is kept.</summary>
public static class ApiClientsApi
{
    public static void MapApiClients(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/api-clients").RequireAuthorization().WithTags("API clients");
        group.MapGet("/", async (CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var rows = await db.QueryAsync<ApiClientRow>(ApiClientRow.SelectByOrg, new { orgId = user.OrgId }, ct);
            return TypedResults.Ok(rows.Select(r => r.ToDto()).ToArray());
        });
        group.MapPost("/", async (CreateApiClientRequest body, CurrentUser user, ApiClientActions actions, CancellationToken ct) =>
        {
            var created = await actions.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/api-clients/{created.ApiClient.Id}", created);
        });
        group.MapDelete("/{id}", async (string id, CurrentUser user, ApiClientActions actions, CancellationToken ct) =>
        {
            await actions.RevokeAsync(user, id, ct);
            return TypedResults.NoContent();
        });
    }
}

public sealed class ApiClientActions(Db db, Access access, Audit audit, TimeProvider clock)
{
    public async Task<CreatedApiClient> CreateAsync(CurrentUser user, CreateApiClientRequest body, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        var v = new Validation();
        var name = v.Required("name", body.Name, 100);
        var permissions = (body.Permissions ?? []).Distinct().ToArray();
        if (permissions.Length == 0)
            v.Add("permissions", $"At least one of: {string.Join(", ", Permissions.All)}.");
        foreach (var unknown in permissions.Where(p => !Permissions.All.Contains(p)))
            v.Add("permissions", $"Unknown permission '{unknown}'.");
        if (body.StoreId is not null)
            await access.StoreAsync(user, body.StoreId, ct);
        v.ThrowIfAny();

        var key = Secrets.NewApiKey();
        var row = new ApiClientRow
        {
            Id = Ids.New("apc", clock), OrgId = user.OrgId, StoreId = body.StoreId, Name = name,
            Permissions = JsonSerializer.Serialize(permissions), KeyPrefix = key[..12], CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("""
                INSERT INTO api_clients (id, org_id, store_id, name, permissions, key_prefix, key_hash, created_at)
                VALUES (@Id, @OrgId, @StoreId, @Name, @Permissions, @KeyPrefix, @keyHash, @CreatedAt)
                """, new { row.Id, row.OrgId, row.StoreId, row.Name, row.Permissions, row.KeyPrefix, keyHash = Secrets.Hash(key), row.CreatedAt }, t);
            await audit.RecordAsync(c, t, user, AuditActions.ApiClientCreated, "api_client", row.Id,
                new { name, permissions, store_id = row.StoreId, key_prefix = row.KeyPrefix });
        }, ct);
        return new CreatedApiClient(row.ToDto(), key);
    }

    /// <summary>
    /// Revokes a key: every request checks its key against the database, so it stops working at once on every node.
    /// A key holds no long-lived channel (the WebSocket refuses API keys; there is no long poll or event stream).
    /// </summary>
    public async Task RevokeAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var client = await access.ApiClientAsync(user, id, ct);
        await db.InTransactionAsync(async (c, t) =>
        {
            var revoked = await c.ExecuteAsync("UPDATE api_clients SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
                new { now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = client.Id }, t);
            if (revoked > 0)
                await audit.RecordAsync(c, t, user, AuditActions.ApiClientRevoked, "api_client", client.Id, new { name = client.Name });
        }, ct);
    }
}
