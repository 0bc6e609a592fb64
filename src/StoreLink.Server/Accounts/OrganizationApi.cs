using Dapper;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>The caller's organization. <c>recall_window_seconds</c>: how long senders may recall their messages.</summary>
public sealed record OrganizationDto(string Id, string Name, int RecallWindowSeconds, DateTimeOffset CreatedAt);

/// <summary><c>PATCH /v1/organization</c> (org admins).</summary>
public sealed record UpdateOrganizationRequest(string? Name, int? RecallWindowSeconds);

/// <summary>The HS256 key that the organization's own backend signs customer identity tokens with (UTF-8 bytes of the string).</summary>
public sealed record IdentitySecretDto(string IdentitySecret);

public static class OrganizationApi
{
    private static async Task<OrganizationDto> GetAsync(Db db, CurrentUser user, CancellationToken ct)
    {
        var (id, name, recall, createdAt) = await db.QuerySingleOrDefaultAsync<(string, string, long, long)>(
            "SELECT id, name, recall_window_seconds, created_at FROM organizations WHERE id = @orgId", new { orgId = user.OrgId }, ct);
        return new OrganizationDto(id, name, (int)recall, DateTimeOffset.FromUnixTimeMilliseconds(createdAt));
    }

    public static void MapOrganization(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/organization").RequireAuthorization().WithTags("Organization");
        group.MapGet("/", async (CurrentUser user, Db db, CancellationToken ct) => TypedResults.Ok(await GetAsync(db, user, ct)));
        group.MapPatch("/", async (UpdateOrganizationRequest body, CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var v = new Validation();
            var name = body.Name is null ? null : v.Required("name", body.Name, 100);
            if (body.RecallWindowSeconds is < 0 or > 86_400)
                v.Add("recall_window_seconds", "Between 0 (senders cannot recall) and 86400 (a day).");
            v.ThrowIfAny();
            await db.ExecuteAsync("""
                UPDATE organizations SET name = COALESCE(@name, name), recall_window_seconds = COALESCE(@recall, recall_window_seconds)
                WHERE id = @orgId
                """, new { name, recall = body.RecallWindowSeconds, orgId = user.OrgId }, ct);
            return TypedResults.Ok(await GetAsync(db, user, ct));
        });
        group.MapGet("/identity-secret", async (CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var secret = await db.QuerySingleOrDefaultAsync<string>("SELECT identity_secret FROM organizations WHERE id = @orgId", new { orgId = user.OrgId }, ct);
            return TypedResults.Ok(new IdentitySecretDto(secret!));
        });
        // Rotation invalidates every identity token signed with the old secret; customers' access tokens live on.
        group.MapPost("/identity-secret/rotate", async (CurrentUser user, Db db, Audit audit, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var secret = Secrets.NewIdentitySecret();
            await db.InTransactionAsync(async (c, t) =>
            {
                await c.ExecuteAsync("UPDATE organizations SET identity_secret = @secret WHERE id = @orgId", new { secret, orgId = user.OrgId }, t);
                await audit.RecordAsync(c, t, user, AuditActions.IdentitySecretRotated, "organization", user.OrgId);
            }, ct);
            return TypedResults.Ok(new IdentitySecretDto(secret));
        });
    }
}
