using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using Microsoft.Extensions.Options;

namespace StoreLink.Server.Integrations;

public sealed class WebhookSubscriptionRow
{
    public const string Columns = "id, org_id, url, secret, event_types, description, active, created_by, created_at, updated_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string Url { get; set; } = "";
    public string Secret { get; set; } = "";
    public string EventTypes { get; set; } = "*";
    public string? Description { get; set; }
    public long Active { get; set; }
    public string CreatedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public IReadOnlyList<string> Events => EventTypes == "*" ? [] : EventTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static string MatchOf(IReadOnlyList<string> events) => events.Count == 0 ? "*" : $" {string.Join(' ', events)} ";

    public WebhookSubscriptionDto ToDto() => new(Id, OrgId, Url, Events, Description, Active != 0,
        DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt));
}

public sealed class WebhookDeliveryRow
{
    public const string Columns = "subscription_id, event_id, org_id, event_type, payload, created_at, status, next_attempt_at, attempts, retry_from, round_attempts, " +
        "last_status, last_error, last_attempt_at, finished_at";

    public string SubscriptionId { get; set; } = "";
    public string EventId { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string EventType { get; set; } = "";
    public string Payload { get; set; } = "";
    public long CreatedAt { get; set; }
    public string Status { get; set; } = "pending";
    public long NextAttemptAt { get; set; }
    public long Attempts { get; set; }
    public long RetryFrom { get; set; }
    public long RoundAttempts { get; set; }
    public long? LastStatus { get; set; }
    public string? LastError { get; set; }
    public long? LastAttemptAt { get; set; }
    public long? FinishedAt { get; set; }

    public WebhookDeliveryDto ToDto(bool withPayload, IReadOnlyList<WebhookAttemptDto>? attempts) => new(
        SubscriptionId, EventId, EventType, Status, (int)Attempts, Time(CreatedAt)!.Value, Status == "pending" ? Time(NextAttemptAt) : null,
        Time(LastAttemptAt), (int?)LastStatus, LastError, Time(FinishedAt),
        withPayload ? JsonDocument.Parse(Payload).RootElement.Clone() : null, attempts);

    private static DateTimeOffset? Time(long? ms) => ms is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms.Value);
}

/// <summary>
/// Outbound webhook subscriptions of an organization and their deliveries: managed by org admins and by
/// organization-wide API keys with <c>webhooks:manage</c>. Another organization's ids answer <c>not_found</c>.
/// </summary>
public sealed class WebhookActions(
    Db db, Access access, Audit audit, WebhookTargets targets, WebhookDispatcher dispatcher, IOptionsMonitor<WebhookOptions> options, TimeProvider clock)
{
    public static void RequireManager(CurrentUser user) => RequireOrgManager(user, Permissions.WebhooksManage, "Webhook subscriptions");

    /// <summary>Org admins, and organization-wide API keys with <paramref name="permission"/> (a store-scoped key is forbidden).</summary>
    public static void RequireOrgManager(CurrentUser user, string permission, string what)
    {
        if (user.IsApiClient)
        {
            user.RequirePermission(permission);
            if (user.StoreId is not null)
                throw ApiException.Forbidden($"{what} belong to the organization: use an API key that is not scoped to a store.");
            return;
        }
        Access.RequireOrgAdmin(user);
    }

    /// <summary>The caller's subscription: another organization's (or a missing one) is <c>not_found</c>.</summary>
    public async Task<WebhookSubscriptionRow> SubscriptionAsync(CurrentUser user, string id, CancellationToken ct)
    {
        RequireManager(user);
        return await access.WebhookSubscriptionAsync(user, id, ct);
    }

    public async Task<IReadOnlyList<WebhookSubscriptionDto>> ListAsync(CurrentUser user, CancellationToken ct)
    {
        RequireManager(user);
        var rows = await db.QueryAsync<WebhookSubscriptionRow>(
            $"SELECT {WebhookSubscriptionRow.Columns} FROM webhook_subscriptions WHERE org_id = @orgId ORDER BY created_at, id", new { orgId = user.OrgId }, ct);
        return rows.Select(r => r.ToDto()).ToList();
    }

    public async Task<CreatedWebhookSubscription> CreateAsync(CurrentUser user, CreateWebhookRequest body, CancellationToken ct)
    {
        RequireManager(user);
        var v = new Validation();
        var url = await targets.CheckUrlAsync(v, "url", body.Url, ct);
        var events = CheckEvents(v, body.Events);
        var description = v.MaxLength("description", body.Description?.Trim(), 200);
        v.ThrowIfAny();
        var count = await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM webhook_subscriptions WHERE org_id = @orgId", new { orgId = user.OrgId }, ct);
        if (count >= options.CurrentValue.MaxSubscriptions)
            throw ApiException.Conflict(Texts.Get(user.Language, "webhook_limit", ("max", $"{options.CurrentValue.MaxSubscriptions}")));
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new WebhookSubscriptionRow
        {
            Id = Ids.New("whk", clock), OrgId = user.OrgId, Url = url!, Secret = WebhookSignature.NewSecret(), EventTypes = WebhookSubscriptionRow.MatchOf(events),
            Description = description, Active = body.Active == false ? 0 : 1, CreatedBy = user.Id, CreatedAt = now, UpdatedAt = now,
        };
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync($"""
                INSERT INTO webhook_subscriptions ({WebhookSubscriptionRow.Columns})
                VALUES (@Id, @OrgId, @Url, @Secret, @EventTypes, @Description, @Active, @CreatedBy, @CreatedAt, @UpdatedAt)
                """, row, t);
            await audit.RecordAsync(c, t, user, AuditActions.WebhookCreated, "webhook", row.Id, AuditDetails(row));
        }, ct);
        dispatcher.SubscriptionsChanged();
        return new CreatedWebhookSubscription(row.ToDto(), row.Secret);
    }

    public async Task<WebhookSubscriptionDto> UpdateAsync(CurrentUser user, string id, UpdateWebhookRequest body, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var v = new Validation();
        if (body.Url is not null)
            row.Url = (await targets.CheckUrlAsync(v, "url", body.Url, ct))!;
        if (body.Events is not null)
            row.EventTypes = WebhookSubscriptionRow.MatchOf(CheckEvents(v, body.Events));
        if (body.Description is not null)
            row.Description = v.MaxLength("description", body.Description.Trim(), 200) is { Length: > 0 } d ? d : null;
        if (body.Active is not null)
            row.Active = body.Active.Value ? 1 : 0;
        v.ThrowIfAny();
        row.UpdatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("""
                UPDATE webhook_subscriptions SET url = @Url, event_types = @EventTypes, description = @Description, active = @Active, updated_at = @UpdatedAt
                WHERE id = @Id
                """, row, t);
            await audit.RecordAsync(c, t, user, AuditActions.WebhookUpdated, "webhook", row.Id, AuditDetails(row));
        }, ct);
        dispatcher.SubscriptionsChanged();
        return row.ToDto();
    }

    public async Task DeleteAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("DELETE FROM webhook_attempts WHERE subscription_id = @Id", row, t);
            await c.ExecuteAsync("DELETE FROM webhook_deliveries WHERE subscription_id = @Id", row, t);
            await c.ExecuteAsync("DELETE FROM webhook_subscriptions WHERE id = @Id", row, t);
            await audit.RecordAsync(c, t, user, AuditActions.WebhookDeleted, "webhook", row.Id, AuditDetails(row));
        }, ct);
    }

    public async Task<WebhookSecretDto> RotateSecretAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var secret = WebhookSignature.NewSecret();
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE webhook_subscriptions SET secret = @secret, updated_at = @now WHERE id = @id",
                new { secret, now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = row.Id }, t);
            await audit.RecordAsync(c, t, user, AuditActions.WebhookSecretRotated, "webhook", row.Id);
        }, ct);
        return new WebhookSecretDto(secret);
    }

    /// <summary>A <c>webhook.ping</c> event for this subscription only, delivered (and logged) like any other.</summary>
    public async Task<WebhookDeliveryDto> PingAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var eventId = Ids.New("evt", clock);
        var payload = JsonSerializer.Serialize(new
        {
            id = eventId, type = WebhookEventTypes.Ping, created_at = DateTimeOffset.FromUnixTimeMilliseconds(now), org_id = row.OrgId, store_id = (string?)null,
            data = new { subscription_id = row.Id },
        }, ProtocolJson.Options);
        await db.ExecuteAsync("""
            INSERT INTO webhook_deliveries (subscription_id, event_id, org_id, event_type, payload, created_at, status, next_attempt_at, retry_from)
            VALUES (@subscriptionId, @eventId, @orgId, @type, @payload, @now, 'pending', @now, @now)
            """, new { subscriptionId = row.Id, eventId, orgId = row.OrgId, type = WebhookEventTypes.Ping, payload, now }, ct);
        dispatcher.Wake();
        return await DeliveryAsync(user, row.Id, eventId, ct);
    }

    /// <summary>Deliveries newest first; <c>status</c>: pending, succeeded, dead, or failed (pending after a failed attempt).</summary>
    public async Task<IReadOnlyList<WebhookDeliveryDto>> DeliveriesAsync(CurrentUser user, string id, string? status, string? eventType, int? limit, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var filter = status switch
        {
            null or "" => "",
            "pending" or "succeeded" or "dead" => "AND status = @status",
            "failed" => "AND status = 'pending' AND attempts > 0",
            _ => throw ApiException.Invalid("status is pending, failed, succeeded or dead."),
        };
        if (eventType is not null)
            filter += " AND event_type = @eventType";
        var rows = await db.QueryAsync<WebhookDeliveryRow>($"""
            SELECT {WebhookDeliveryRow.Columns} FROM webhook_deliveries WHERE subscription_id = @id {filter}
            ORDER BY created_at DESC, event_id DESC LIMIT @take
            """, new { id = row.Id, status, eventType, take = Math.Clamp(limit ?? 50, 1, 500) }, ct);
        return rows.Select(r => r.ToDto(withPayload: false, null)).ToList();
    }

    /// <summary>One delivery with its payload and every attempt.</summary>
    public async Task<WebhookDeliveryDto> DeliveryAsync(CurrentUser user, string id, string eventId, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var delivery = await db.QuerySingleOrDefaultAsync<WebhookDeliveryRow>(
            $"SELECT {WebhookDeliveryRow.Columns} FROM webhook_deliveries WHERE subscription_id = @id AND event_id = @eventId", new { id = row.Id, eventId }, ct)
            ?? throw ApiException.NotFound("The delivery");
        var attempts = await db.QueryAsync<(long At, long Duration, long? Status, string? Error, long Succeeded)>("""
            SELECT attempted_at, duration_ms, status_code, error, succeeded FROM webhook_attempts
            WHERE subscription_id = @id AND event_id = @eventId ORDER BY attempted_at, id
            """, new { id = row.Id, eventId }, ct);
        return delivery.ToDto(withPayload: true, attempts.Select(a => new WebhookAttemptDto(
            DateTimeOffset.FromUnixTimeMilliseconds(a.At), a.Duration, (int?)a.Status, a.Error, a.Succeeded != 0)).ToList());
    }

    /// <summary>
    /// Sends a delivery again — dead, succeeded or still retrying — with the same webhook-id, so a receiver that
    /// has it already can tell; it gets a new retry period of its own.
    /// </summary>
    public async Task<WebhookDeliveryDto> RedeliverAsync(CurrentUser user, string id, string eventId, CancellationToken ct)
    {
        var row = await SubscriptionAsync(user, id, ct);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var changed = await db.ExecuteAsync("""
            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = @now, retry_from = @now, round_attempts = 0, finished_at = NULL
            WHERE subscription_id = @id AND event_id = @eventId
            """, new { id = row.Id, eventId, now }, ct);
        if (changed == 0)
            throw ApiException.NotFound("The delivery");
        dispatcher.Wake();
        return await DeliveryAsync(user, id, eventId, ct);
    }

    private static object AuditDetails(WebhookSubscriptionRow row) => new { url = row.Url, events = row.Events, active = row.Active != 0 };

    private static List<string> CheckEvents(Validation v, List<string>? events)
    {
        var list = (events ?? []).Select(e => e?.Trim() ?? "").Distinct().ToList();
        foreach (var unknown in list.Where(e => !WebhookEventTypes.All.Contains(e)))
            v.Add("events", $"Unknown event '{unknown}'; one of: {string.Join(", ", WebhookEventTypes.All)}.");
        return list;
    }
}

public static class WebhooksApi
{
    public static void MapWebhooks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/webhooks").RequireAuthorization().WithTags("Webhooks");
        group.MapGet("/", async (CurrentUser user, WebhookActions actions, CancellationToken ct) => TypedResults.Ok(await actions.ListAsync(user, ct)));
        group.MapPost("/", async (CreateWebhookRequest body, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
        {
            var created = await actions.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/webhooks/{created.Subscription.Id}", created);
        });
        group.MapGet("/{id}", async (string id, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok((await actions.SubscriptionAsync(user, id, ct)).ToDto()));
        group.MapPatch("/{id}", async (string id, UpdateWebhookRequest body, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.UpdateAsync(user, id, body, ct)));
        group.MapDelete("/{id}", async (string id, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
        {
            await actions.DeleteAsync(user, id, ct);
            return TypedResults.NoContent();
        });
        group.MapGet("/{id}/secret", async (string id, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok(new WebhookSecretDto((await actions.SubscriptionAsync(user, id, ct)).Secret)));
        group.MapPost("/{id}/secret/rotate", async (string id, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.RotateSecretAsync(user, id, ct)));
        group.MapPost("/{id}/ping", async (string id, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Accepted((string?)null, await actions.PingAsync(user, id, ct)));
        group.MapGet("/{id}/deliveries", async (string id, string? status, string? event_type, int? limit, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.DeliveriesAsync(user, id, status, event_type, limit, ct)));
        group.MapGet("/{id}/deliveries/{eventId}", async (string id, string eventId, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.DeliveryAsync(user, id, eventId, ct)));
        group.MapPost("/{id}/deliveries/{eventId}/redeliver", async (string id, string eventId, CurrentUser user, WebhookActions actions, CancellationToken ct) =>
            TypedResults.Accepted((string?)null, await actions.RedeliverAsync(user, id, eventId, ct)));
    }
}
