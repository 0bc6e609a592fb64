using System.Data.Common;
using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Data;

namespace StoreLink.Server.Accounts;

/// <summary>The actions the security log records (<c>audit_events.action</c>).</summary>
public static class AuditActions
{
    public const string Login = "auth.login";
    public const string LoginFailed = "auth.login_failed";
    public const string LockedOut = "auth.locked_out";
    public const string StaffCreated = "staff.created";
    public const string PasswordChanged = "staff.password_changed";
    public const string PasswordReset = "staff.password_reset";
    public const string RolesChanged = "staff.roles_changed";
    public const string StaffDisabled = "staff.disabled";
    public const string StaffEnabled = "staff.enabled";
    public const string ApiClientCreated = "api_client.created";
    public const string ApiClientRevoked = "api_client.revoked";
    public const string IdentitySecretRotated = "organization.identity_secret_rotated";
    public const string WebhookCreated = "webhook.created";
    public const string WebhookUpdated = "webhook.updated";
    public const string WebhookDeleted = "webhook.deleted";
    public const string WebhookSecretRotated = "webhook.secret_rotated";
    public const string ConnectorCreated = "connector.created";
    public const string ConnectorUpdated = "connector.updated";
    public const string ConnectorDeleted = "connector.deleted";
    public const string ConnectorSecretRotated = "connector.secret_rotated";
}

/// <summary>Who did something and from where: a signed-in caller, or nobody known yet (a failed sign-in).</summary>
public sealed record AuditActor(string Kind, string? Id, string? Name, string? Address, string? UserAgent)
{
    public static AuditActor Of(CurrentUser user) =>
        new(user.IsStaff ? "staff" : user.IsApiClient ? "api_client" : "customer", user.Id, user.Name, user.Address, user.UserAgent);

    public static AuditActor Anonymous(string? address, string? userAgent) => new("anonymous", null, null, address, userAgent);
}

/// <summary>
/// Writes the security log. Every writer calls it; a change that has a transaction records its event in it, so the
/// log holds exactly the changes that committed.
/// </summary>
public sealed class Audit(Db db, TimeProvider clock)
{
    private const string InsertSql = """
        INSERT INTO audit_events (id, org_id, created_at, actor_kind, actor_id, actor_name, action, target_type, target_id, details, address, user_agent)
        VALUES (@id, @orgId, @now, @actorKind, @actorId, @actorName, @action, @targetType, @targetId, @details, @address, @userAgent)
        """;

    /// <summary>Records what <paramref name="user"/> did to a target, in the change's own transaction.</summary>
    public Task RecordAsync(DbConnection c, DbTransaction t, CurrentUser user, string action, string targetType, string targetId, object? details = null) =>
        c.ExecuteAsync(InsertSql, Args(user.OrgId, AuditActor.Of(user), action, targetType, targetId, details), t);

    /// <summary>Records an event that belongs to no transaction (sign-ins).</summary>
    public Task RecordAsync(string orgId, AuditActor actor, string action, string targetType, string targetId, object? details, CancellationToken ct) =>
        db.ExecuteAsync(InsertSql, Args(orgId, actor, action, targetType, targetId, details), ct);

    private object Args(string orgId, AuditActor actor, string action, string targetType, string targetId, object? details) => new
    {
        id = Ids.New("aud", clock), orgId, now = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        actorKind = actor.Kind, actorId = actor.Id, actorName = actor.Name, action, targetType, targetId,
        details = details is null ? "{}" : JsonSerializer.Serialize(details, ProtocolJson.Options),
        address = actor.Address, userAgent = actor.UserAgent,
    };

    /// <summary>The organization's events newest first, for its admins; <c>before</c> is the id of the last event of the previous page.</summary>
    public async Task<IReadOnlyList<AuditEventDto>> ListAsync(CurrentUser user, AuditQuery query, CancellationToken ct)
    {
        Access.RequireOrgAdmin(user);
        var filter = "";
        if (!string.IsNullOrEmpty(query.Action))
            filter += " AND action = @action";
        if (!string.IsNullOrEmpty(query.ActorId))
            filter += " AND actor_id = @actorId";
        if (!string.IsNullOrEmpty(query.TargetType))
            filter += " AND target_type = @targetType";
        if (!string.IsNullOrEmpty(query.TargetId))
            filter += " AND target_id = @targetId";
        if (query.Since is not null)
            filter += " AND created_at >= @since";
        if (query.Until is not null)
            filter += " AND created_at < @until";
        if (!string.IsNullOrEmpty(query.Before))
            filter += " AND id < @before";
        var rows = await db.QueryAsync<AuditEventRow>($"""
            SELECT id, action, actor_kind, actor_id, actor_name, target_type, target_id, details, address, user_agent, created_at
            FROM audit_events WHERE org_id = @orgId{filter} ORDER BY id DESC LIMIT @take
            """, new
            {
                orgId = user.OrgId, action = query.Action, actorId = query.ActorId, targetType = query.TargetType, targetId = query.TargetId,
                since = query.Since?.ToUnixTimeMilliseconds(), until = query.Until?.ToUnixTimeMilliseconds(), before = query.Before,
                take = Math.Clamp(query.Limit ?? 50, 1, 200),
            }, ct);
        return rows.Select(r => r.ToDto()).ToList();
    }

    private sealed class AuditEventRow
    {
        public string Id { get; set; } = "";
        public string Action { get; set; } = "";
        public string ActorKind { get; set; } = "";
        public string? ActorId { get; set; }
        public string? ActorName { get; set; }
        public string? TargetType { get; set; }
        public string? TargetId { get; set; }
        public string Details { get; set; } = "{}";
        public string? Address { get; set; }
        public string? UserAgent { get; set; }
        public long CreatedAt { get; set; }

        public AuditEventDto ToDto() => new(Id, Action, ActorKind, ActorId, ActorName, TargetType, TargetId,
            JsonDocument.Parse(Details).RootElement.Clone(), Address, UserAgent, DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt));
    }
}

/// <summary>The filters of <c>GET /v1/audit-events</c>.</summary>
public sealed record AuditQuery(
    string? Action, string? ActorId, string? TargetType, string? TargetId, DateTimeOffset? Since, DateTimeOffset? Until, string? Before, int? Limit);

public static class AuditApi
{
    public static void MapAudit(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/audit-events", async (string? action, string? actor_id, string? target_type, string? target_id, DateTimeOffset? since,
                DateTimeOffset? until, string? before, int? limit, CurrentUser user, Audit audit, CancellationToken ct) =>
            TypedResults.Ok(await audit.ListAsync(user, new AuditQuery(action, actor_id, target_type, target_id, since, until, before, limit), ct)))
            .RequireAuthorization().WithTags("Audit");
}
