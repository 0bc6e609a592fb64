using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>The caller's organization.</summary>
public sealed record OrganizationDto(string Id, string Name, DateTimeOffset CreatedAt);

/// <summary>The HS256 key that the organization's own backend signs customer identity tokens with (UTF-8 bytes of the string).</summary>
public sealed record IdentitySecretDto(string IdentitySecret);

public static class OrganizationApi
{
    public static void MapOrganization(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/organization").RequireAuthorization().WithTags("Organization");
        group.MapGet("/", async (CurrentUser user, Db db, CancellationToken ct) =>
        {
            var (id, name, createdAt) = await db.QuerySingleOrDefaultAsync<(string, string, long)>(
                "SELECT id, name, created_at FROM organizations WHERE id = @orgId", new { orgId = user.OrgId }, ct);
            return TypedResults.Ok(new OrganizationDto(id, name, DateTimeOffset.FromUnixTimeMilliseconds(createdAt)));
        });
        group.MapGet("/identity-secret", async (CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var secret = await db.QuerySingleOrDefaultAsync<string>("SELECT identity_secret FROM organizations WHERE id = @orgId", new { orgId = user.OrgId }, ct);
            return TypedResults.Ok(new IdentitySecretDto(secret!));
        });
        // Rotation invalidates every identity token signed with the old secret; customers' access tokens live on.
        group.MapPost("/identity-secret/rotate", async (CurrentUser user, Db db, CancellationToken ct) =>
        {
            Access.RequireOrgAdmin(user);
            var secret = Secrets.NewIdentitySecret();
            await db.ExecuteAsync("UPDATE organizations SET identity_secret = @secret WHERE id = @orgId", new { secret, orgId = user.OrgId }, ct);
            return TypedResults.Ok(new IdentitySecretDto(secret));
        });
    }
}
