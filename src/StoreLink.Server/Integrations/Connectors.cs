using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Workflows;

namespace StoreLink.Server.Integrations;

public sealed class ConnectorRow
{
    public const string Columns = "id, org_id, connector_key, name, base_url, secret, kind, template_id, store_id, status_map, field_map, mode, " +
        "poll_interval_seconds, commands, profile_lookup, active, created_by, created_at, updated_at, poll_cursor, next_poll_at, last_poll_at, last_poll_error";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string ConnectorKey { get; set; } = "";
    public string Name { get; set; } = "";
    public string BaseUrl { get; set; } = "";
    public string Secret { get; set; } = "";
    public string Kind { get; set; } = "";
    public string TemplateId { get; set; } = "";
    public string? StoreId { get; set; }
    public string StatusMap { get; set; } = "{}";
    public string FieldMap { get; set; } = "{}";
    public string Mode { get; set; } = ConnectorModes.Webhook;
    public long? PollIntervalSeconds { get; set; }
    public long Commands { get; set; }
    public long ProfileLookup { get; set; }
    public long Active { get; set; } = 1;
    public string CreatedBy { get; set; } = "";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
    public string? PollCursor { get; set; }
    public long? NextPollAt { get; set; }
    public long? LastPollAt { get; set; }
    public string? LastPollError { get; set; }

    public Dictionary<string, string> Statuses => JsonSerializer.Deserialize<Dictionary<string, string>>(StatusMap) ?? [];
    public Dictionary<string, string> Fields => JsonSerializer.Deserialize<Dictionary<string, string>>(FieldMap) ?? [];

    /// <summary>A path under the system's base address (<c>changes</c>, <c>commands</c>, <c>customers/C-88</c>).</summary>
    public Uri UrlOf(string relative) => new(new Uri(BaseUrl.EndsWith('/') ? BaseUrl : BaseUrl + "/"), relative);

    /// <summary>
    /// Who the connector is when it writes through the actions every other caller uses: an API client of its
    /// organization with the permissions its events need. It appears on timelines under the connector's name.
    /// </summary>
    public CurrentUser Principal() => new(Id, UserKind.ApiClient, OrgId, Name, [],
        new HashSet<string> { Permissions.WorkItemsRead, Permissions.WorkItemsWrite, Permissions.CustomersRead, Permissions.CustomersWrite }, null, null);

    public ConnectorDto ToDto() => new(Id, OrgId, ConnectorKey, Name, BaseUrl, Kind, TemplateId, StoreId, Statuses, Fields, Mode, (int?)PollIntervalSeconds,
        Commands != 0, ProfileLookup != 0, Active != 0, DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt))
    {
        Cursor = PollCursor,
        LastPollAt = LastPollAt is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
        LastPollError = LastPollError,
    };
}

public static class ConnectorModes
{
    public const string Webhook = "webhook";
    public const string Polling = "polling";
}

/// <summary>
/// An organization's connectors: managed by org admins and by organization-wide API keys with <c>connectors:manage</c>.
/// Another organization's ids answer <c>not_found</c>. The base address follows the outbound target rules (SSRF), the
/// status map must name states of the connector's template, and the secret signs both directions.
/// </summary>
public sealed partial class ConnectorActions(
    Db db, Access access, Audit audit, Templates templates, WebhookTargets targets, IOptionsMonitor<ConnectorOptions> options, TimeProvider clock)
{
    public const int MinPollSeconds = 5;
    public const int MaxPollSeconds = 3600;
    private const int MaxMapEntries = 200;

    [GeneratedRegex("^[a-z0-9_-]{1,40}$")]
    private static partial Regex KeyPattern();

    public static void RequireManager(CurrentUser user) => WebhookActions.RequireOrgManager(user, Permissions.ConnectorsManage, "Connectors");

    /// <summary>The caller's connector: another organization's (or a missing one) is <c>not_found</c>.</summary>
    public async Task<ConnectorRow> ConnectorAsync(CurrentUser user, string id, CancellationToken ct)
    {
        RequireManager(user);
        return await access.ConnectorAsync(user, id, ct);
    }

    public async Task<IReadOnlyList<ConnectorDto>> ListAsync(CurrentUser user, CancellationToken ct)
    {
        RequireManager(user);
        var rows = await db.QueryAsync<ConnectorRow>($"SELECT {ConnectorRow.Columns} FROM connectors WHERE org_id = @orgId ORDER BY created_at, id",
            new { orgId = user.OrgId }, ct);
        return rows.Select(r => r.ToDto()).ToList();
    }

    public async Task<CreatedConnector> CreateAsync(CurrentUser user, ConnectorRequest body, CancellationToken ct)
    {
        RequireManager(user);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new ConnectorRow
        {
            Id = Ids.New("con", clock), OrgId = user.OrgId, Secret = WebhookSignature.NewSecret(), CreatedBy = user.Id, CreatedAt = now, UpdatedAt = now,
        };
        var v = new Validation();
        if (body.Key is null || !KeyPattern().IsMatch(body.Key))
            v.Add("key", "Required: 1–40 characters a–z, 0–9, _ and -; it is also the external_ref.system of the items the connector drives.");
        row.ConnectorKey = body.Key ?? "";
        if (body.Name is null)
            v.Add("name", "Required.");
        if (body.BaseUrl is null)
            v.Add("base_url", "Required: the https:// (or http://) address of the system.");
        if (body.Kind is null && body.TemplateId is null)
            v.Add("kind", "Required: ticket, order or care_job.");
        if (body.StatusMap is null or { Count: 0 })
            v.Add("status_map", "Required: the system's status values and the template state each one means.");
        await ApplyAsync(user, row, body with { Key = null }, v, ct);
        var count = await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM connectors WHERE org_id = @orgId", new { orgId = user.OrgId }, ct);
        if (count >= options.CurrentValue.MaxConnectors)
            throw ApiException.Conflict(Texts.Get(user.Language, "connector_limit", ("max", $"{options.CurrentValue.MaxConnectors}")));
        try
        {
            await db.InTransactionAsync(async (c, t) =>
            {
                await c.ExecuteAsync($"""
                    INSERT INTO connectors ({ConnectorRow.Columns}) VALUES (@Id, @OrgId, @ConnectorKey, @Name, @BaseUrl, @Secret, @Kind, @TemplateId, @StoreId,
                        @StatusMap, @FieldMap, @Mode, @PollIntervalSeconds, @Commands, @ProfileLookup, @Active, @CreatedBy, @CreatedAt, @UpdatedAt,
                        NULL, @NextPollAt, NULL, NULL)
                    """, row, t);
                await audit.RecordAsync(c, t, user, AuditActions.ConnectorCreated, "connector", row.Id, AuditDetails(row));
            }, ct);
        }
        catch (Exception e) when (SqlDialect.IsUniqueViolation(e))
        {
            throw ApiException.Conflict(Texts.Get(user.Language, "connector_key_taken", ("key", row.ConnectorKey)));
        }
        return new CreatedConnector(row.ToDto(), row.Secret);
    }

    /// <summary>Any member of the create body; the key stays (work items name their system by it).</summary>
    public async Task<ConnectorDto> UpdateAsync(CurrentUser user, string id, ConnectorRequest body, CancellationToken ct)
    {
        var row = await ConnectorAsync(user, id, ct);
        var v = new Validation();
        if (body.Key is not null && body.Key != row.ConnectorKey)
            v.Add("key", "The key does not change: the work items the connector drives name their system by it. Make a new connector instead.");
        var wasPolling = (row.Mode, row.PollIntervalSeconds);
        await ApplyAsync(user, row, body, v, ct);
        row.UpdatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if ((row.Mode, row.PollIntervalSeconds) != wasPolling || body.Active == true)
            row.NextPollAt = row.Mode == ConnectorModes.Polling ? row.UpdatedAt : null;
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("""
                UPDATE connectors SET name = @Name, base_url = @BaseUrl, kind = @Kind, template_id = @TemplateId, store_id = @StoreId, status_map = @StatusMap,
                    field_map = @FieldMap, mode = @Mode, poll_interval_seconds = @PollIntervalSeconds, commands = @Commands, profile_lookup = @ProfileLookup,
                    active = @Active, updated_at = @UpdatedAt, next_poll_at = @NextPollAt
                WHERE id = @Id
                """, row, t);
            await audit.RecordAsync(c, t, user, AuditActions.ConnectorUpdated, "connector", row.Id, AuditDetails(row));
        }, ct);
        return row.ToDto();
    }

    /// <summary>Deletes the connector with its logs, versions, commands and cached profiles; its work items stay.</summary>
    public async Task DeleteAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var row = await ConnectorAsync(user, id, ct);
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("DELETE FROM connector_command_attempts WHERE command_id IN (SELECT id FROM connector_commands WHERE connector_id = @Id)", row, t);
            foreach (var table in new[] { "connector_commands", "connector_events", "connector_objects", "connector_profiles" })
                await c.ExecuteAsync($"DELETE FROM {table} WHERE connector_id = @Id", row, t);
            await c.ExecuteAsync("DELETE FROM connectors WHERE id = @Id", row, t);
            await audit.RecordAsync(c, t, user, AuditActions.ConnectorDeleted, "connector", row.Id, AuditDetails(row));
        }, ct);
    }

    public async Task<WebhookSecretDto> RotateSecretAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var row = await ConnectorAsync(user, id, ct);
        var secret = WebhookSignature.NewSecret();
        await db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE connectors SET secret = @secret, updated_at = @now WHERE id = @id",
                new { secret, now = clock.GetUtcNow().ToUnixTimeMilliseconds(), id = row.Id }, t);
            await audit.RecordAsync(c, t, user, AuditActions.ConnectorSecretRotated, "connector", row.Id);
        }, ct);
        return new WebhookSecretDto(secret);
    }

    private static object AuditDetails(ConnectorRow row) =>
        new { key = row.ConnectorKey, name = row.Name, base_url = row.BaseUrl, mode = row.Mode, active = row.Active != 0 };

    /// <summary>The inbound log, newest first; <c>status</c>: received, applied, stale, replayed or refused.</summary>
    public async Task<IReadOnlyList<ConnectorEventDto>> EventsAsync(CurrentUser user, string id, string? status, int? limit, CancellationToken ct)
    {
        var row = await ConnectorAsync(user, id, ct);
        if (status is not (null or "received" or "applied" or "stale" or "replayed" or "refused"))
            throw ApiException.Invalid("status is received, applied, stale, replayed or refused.");
        var rows = await db.QueryAsync<ConnectorEventRow>($"""
            SELECT {ConnectorEventRow.Columns} FROM connector_events WHERE connector_id = @id {(status is null ? "" : "AND status = @status")}
            ORDER BY received_at DESC, seq DESC, id DESC LIMIT @take
            """, new { id = row.Id, status, take = Math.Clamp(limit ?? 50, 1, 500) }, ct);
        return rows.Select(r => r.ToDto()).ToList();
    }

    /// <summary>
    /// Merges <paramref name="body"/> onto <paramref name="row"/> and checks the result as a whole: the template and its
    /// kind, the status map against the template's states, the polling interval against the mode.
    /// </summary>
    private async Task ApplyAsync(CurrentUser user, ConnectorRow row, ConnectorRequest body, Validation v, CancellationToken ct)
    {
        if (body.Name is not null)
            row.Name = v.Required("name", body.Name, 100);
        if (body.BaseUrl is not null)
        {
            var url = await targets.CheckUrlAsync(v, "base_url", body.BaseUrl, ct);
            if (url is not null && new Uri(url).Query.Length > 0)
                v.Add("base_url", "Without a query: StoreLink adds changes, commands and customers/{external_id} to it.");
            row.BaseUrl = url ?? row.BaseUrl;
        }
        if (body.Kind is not null && !Templates.Kinds.Contains(body.Kind))
            v.Add("kind", "One of ticket, order, care_job.");
        if (body.StoreId is not null)
            row.StoreId = body.StoreId.Length == 0 ? null : (await access.StoreAsync(user, body.StoreId, ct)).Id;
        if (body.Mode is not null && body.Mode is not (ConnectorModes.Webhook or ConnectorModes.Polling))
            v.Add("mode", "webhook (the system posts to StoreLink) or polling (StoreLink fetches its changes feed).");
        row.Mode = body.Mode is ConnectorModes.Webhook or ConnectorModes.Polling ? body.Mode : row.Mode;
        if (body.PollIntervalSeconds is not null)
            row.PollIntervalSeconds = body.PollIntervalSeconds;
        if (row.Mode == ConnectorModes.Polling && row.PollIntervalSeconds is not (>= MinPollSeconds and <= MaxPollSeconds))
            v.Add("poll_interval_seconds", $"Required for polling: {MinPollSeconds} to {MaxPollSeconds} seconds.");
        if (row.Mode == ConnectorModes.Webhook)
            row.PollIntervalSeconds = null;
        row.Commands = body.Commands is { } commands ? (commands ? 1 : 0) : row.Commands;
        row.ProfileLookup = body.ProfileLookup is { } lookup ? (lookup ? 1 : 0) : row.ProfileLookup;
        row.Active = body.Active is { } active ? (active ? 1 : 0) : row.Active;
        if (body.FieldMap is not null)
        {
            if (body.FieldMap.Count > MaxMapEntries || body.FieldMap.Any(f => f.Key.Length is 0 or > 64 || f.Value is not { Length: > 0 and <= 40 }))
                v.Add("field_map", $"At most {MaxMapEntries} entries: the system's field name (1–64 characters) → the work item's field name (1–40).");
            row.FieldMap = JsonSerializer.Serialize(body.FieldMap);
        }
        // The template: the one named, else (a new connector, or another kind) the organization's default of the kind.
        TemplateRow? template = null;
        if (body.TemplateId is not null)
            template = await templates.RowAsync(user, body.TemplateId, ct);
        else if (body.Kind is not null && body.Kind != row.Kind && Templates.Kinds.Contains(body.Kind))
            template = await templates.DefaultAsync(user.OrgId, body.Kind, ct);
        if (template is not null)
        {
            if (body.Kind is not null && body.Kind != template.Kind)
                v.Add("kind", $"The template is for {template.Kind}.");
            row.TemplateId = template.Id;
            row.Kind = template.Kind;
        }
        var statuses = body.StatusMap ?? row.Statuses;
        if (row.TemplateId.Length > 0 && (body.StatusMap is not null || template is not null))
        {
            template ??= await templates.RowAsync(user, row.TemplateId, ct);
            var definition = (await templates.DefinitionAsync(template.Id, (int)template.CurrentVersion, ct))!;
            if (statuses.Count > MaxMapEntries || statuses.Keys.Any(k => k.Length is 0 or > 64))
                v.Add("status_map", $"At most {MaxMapEntries} entries; the system's status values are 1–64 characters.");
            foreach (var (status, state) in statuses.Where(s => definition.State(s.Value ?? "") is null))
                v.Add("status_map", $"{status} → {state}: not a state of the template {definition.Name} ({string.Join(", ", definition.States!.Select(s => s.Key))}).");
        }
        row.StatusMap = JsonSerializer.Serialize(statuses);
        v.ThrowIfAny();
        if (row.Mode == ConnectorModes.Polling && row.NextPollAt is null)
            row.NextPollAt = clock.GetUtcNow().ToUnixTimeMilliseconds();
    }
}

public sealed class ConnectorEventRow
{
    public const string Columns = "id, connector_id, event_id, source, event_type, external_id, version, occurred_at, status, http_status, reason, result, received_at, finished_at";

    public string Id { get; set; } = "";
    public string ConnectorId { get; set; } = "";
    public string? EventId { get; set; }
    public string Source { get; set; } = "";
    public string? EventType { get; set; }
    public string? ExternalId { get; set; }
    public long? Version { get; set; }
    public long? OccurredAt { get; set; }
    public string Status { get; set; } = "";
    public long? HttpStatus { get; set; }
    public string? Reason { get; set; }
    public string? Result { get; set; }
    public long ReceivedAt { get; set; }
    public long? FinishedAt { get; set; }

    public ConnectorEventDto ToDto() => new(Id, ConnectorId, EventId, Source, EventType, ExternalId, Version,
        OccurredAt is { } o ? DateTimeOffset.FromUnixTimeMilliseconds(o) : null, Status, (int?)HttpStatus, Reason,
        Result is null ? null : JsonDocument.Parse(Result).RootElement.Clone(), DateTimeOffset.FromUnixTimeMilliseconds(ReceivedAt),
        FinishedAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null);
}

public static class ConnectorsApi
{
    public static void MapConnectors(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/connectors").RequireAuthorization().WithTags("Connectors");
        group.MapGet("/", async (CurrentUser user, ConnectorActions actions, CancellationToken ct) => TypedResults.Ok(await actions.ListAsync(user, ct)));
        group.MapPost("/", async (ConnectorRequest body, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
        {
            var created = await actions.CreateAsync(user, body, ct);
            return TypedResults.Created($"/v1/connectors/{created.Connector.Id}", created);
        });
        group.MapGet("/{id}", async (string id, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
            TypedResults.Ok((await actions.ConnectorAsync(user, id, ct)).ToDto()));
        group.MapPatch("/{id}", async (string id, ConnectorRequest body, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.UpdateAsync(user, id, body, ct)));
        group.MapDelete("/{id}", async (string id, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
        {
            await actions.DeleteAsync(user, id, ct);
            return TypedResults.NoContent();
        });
        group.MapGet("/{id}/secret", async (string id, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
            TypedResults.Ok(new WebhookSecretDto((await actions.ConnectorAsync(user, id, ct)).Secret)));
        group.MapPost("/{id}/secret/rotate", async (string id, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.RotateSecretAsync(user, id, ct)));
        group.MapGet("/{id}/events", async (string id, string? status, int? limit, CurrentUser user, ConnectorActions actions, CancellationToken ct) =>
            TypedResults.Ok(await actions.EventsAsync(user, id, status, limit, ct)));

        group.MapGet("/{id}/commands", async (string id, string? status, int? limit, CurrentUser user, ConnectorActions actions, ConnectorCommands commands,
            CancellationToken ct) => TypedResults.Ok(await commands.ListAsync(await actions.ConnectorAsync(user, id, ct), status, limit, ct)));
        app.MapPost("/v1/commands/{id}/result", async (string id, CommandResultRequest body, CurrentUser user, CommandDispatcher dispatcher, CancellationToken ct) =>
            TypedResults.Ok(await dispatcher.ResultAsync(user, id, body, ct))).RequireAuthorization().WithTags("Connectors");

        // Signed with the connector's secret instead of a bearer token.
        app.MapPost("/v1/hooks/{connectorId}", (string connectorId, HttpRequest request, ConnectorEvents events, CancellationToken ct) =>
            events.ReceiveHookAsync(connectorId, request, ct)).WithTags("Connectors");
    }
}
