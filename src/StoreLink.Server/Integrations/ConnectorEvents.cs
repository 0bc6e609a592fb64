using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Workflows;

namespace StoreLink.Server.Integrations;

/// <summary>One event of a connector's system, as a hook delivered it or a changes feed listed it.</summary>
public sealed record InboundEvent(string Id, string Type, long? Version, long? OccurredAt, JsonElement Data, string Body)
{
    public string? ExternalId => Data.TryGetProperty("external_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
}

/// <summary>What became of an event: <c>applied</c> (with the objects it wrote), <c>stale</c>, <c>replayed</c> or <c>refused</c>.</summary>
public sealed record EventOutcome(string Status, object? Result = null, ApiException? Refusal = null);

/// <summary>The <c>data</c> of <c>order.upserted</c>, <c>ticket.upserted</c> and <c>care_job.upserted</c>.</summary>
public sealed record WorkItemEventData(string? ExternalId, string? Status, string? Title, string? StoreKey, UpsertCustomerRequest? Customer,
    Dictionary<string, JsonElement>? Fields);

/// <summary>The <c>data</c> of <c>stock.alerted</c>.</summary>
public sealed record StockEventData(string? Sku, string? Name, int? Quantity, int? Threshold, string? StoreKey);

/// <summary>
/// Events from connectors' systems: signed hooks (<c>POST /v1/hooks/{connector_id}</c>) and pages of a changes feed.
/// Every event is written to the connector's inbound log first — as <c>received</c>, holding its id, so a second copy
/// is <c>replayed</c> — and then applied through the actions every other caller uses. Applying runs an ordering gate
/// in the change's own transaction: the log row moves from received to applied (so two nodes never apply one event),
/// and the object's last applied version (or time) must be older, else the event is <c>stale</c> and nothing changes.
/// A node that dies between storing and applying leaves the row received; it is taken over when its claim ends.
/// </summary>
public sealed class ConnectorEvents(Db db, Access access, WorkItemActions items, CustomerActions customers, StockAlerts alerts,
    IOptionsMonitor<ConnectorOptions> options, TimeProvider clock, ILogger<ConnectorEvents> logger)
{
    public static readonly TimeSpan ClaimFor = TimeSpan.FromMinutes(1);
    public static readonly string[] Types = ["order.upserted", "ticket.upserted", "care_job.upserted", "customer.upserted", "stock.alerted"];
    private const int MaxIdLength = 200;
    private const int MaxLoggedBody = 64 * 1024;

    private sealed class StaleEvent(string reason) : Exception(reason);

    private sealed class AlreadyApplied : Exception;

    /// <summary>The object's last applied version or time must be older than the event's (when both have one), else nothing is written.</summary>
    private const string NewerSql = """
        INSERT INTO connector_objects (connector_id, object_type, external_id, version, occurred_at, updated_at)
        VALUES (@connectorId, @objectType, @externalId, @version, @occurredAt, @now)
        ON CONFLICT (connector_id, object_type, external_id) DO UPDATE SET
            version = COALESCE(excluded.version, connector_objects.version),
            occurred_at = COALESCE(excluded.occurred_at, connector_objects.occurred_at),
            updated_at = excluded.updated_at
        WHERE CASE
            WHEN excluded.version IS NOT NULL AND connector_objects.version IS NOT NULL THEN excluded.version > connector_objects.version
            WHEN excluded.occurred_at IS NOT NULL AND connector_objects.occurred_at IS NOT NULL THEN excluded.occurred_at > connector_objects.occurred_at
            ELSE TRUE END
        """;

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// <c>POST /v1/hooks/{connector_id}</c>: no bearer token; the request is signed with the connector's secret. Every
    /// request of a known connector is logged, refused ones too; an unknown or inactive connector is an invalid signature.
    /// </summary>
    public async Task<IResult> ReceiveHookAsync(string connectorId, HttpRequest request, CancellationToken ct)
    {
        var connector = connectorId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<ConnectorRow>($"SELECT {ConnectorRow.Columns} FROM connectors WHERE id = @connectorId", new { connectorId }, ct);
        var body = await ReadBodyAsync(request, options.CurrentValue.MaxEventBytes, ct);
        var id = request.Headers["webhook-id"].ToString();
        var signature = request.Headers["webhook-signature"].ToString();
        var invalid = new ApiException(ErrorCodes.InvalidSignature, "The request is not signed with this connector's secret.");
        if (connector is null)
            throw invalid;
        var logged = id.Length is > 0 and <= MaxIdLength ? id : null;
        if (body is null)
            throw await RefuseAsync(connector, logged, null, new ApiException(ErrorCodes.TooLarge, $"An event is at most {options.CurrentValue.MaxEventBytes} bytes."), ct);
        var text = Encoding.UTF8.GetString(body);
        // Unsigned bodies are not kept: anyone may post to a hook, and the log must not become their storage.
        if (connector.Active == 0)
            throw await RefuseAsync(connector, logged, null, invalid, ct, "The connector is inactive.");
        // The signature over the body as received (a body that is not UTF-8 cannot match), then the time window.
        var verdict = logged is null ? WebhookVerification.InvalidSignature
            : WebhookSignature.Verify(connector.Secret, id, request.Headers["webhook-timestamp"].ToString(), signature, text, clock.GetUtcNow());
        if (verdict == WebhookVerification.InvalidSignature)
            throw await RefuseAsync(connector, logged, null, invalid, ct, signature.Length == 0 ? "No signature." : "The signature does not match.");
        if (verdict == WebhookVerification.StaleTimestamp)
            throw await RefuseAsync(connector, id, text, new ApiException(ErrorCodes.StaleTimestamp,
                "webhook-timestamp is more than 5 minutes from StoreLink's clock; send it again with the time of sending."), ct);
        InboundEvent e;
        try
        {
            e = Parse(id, body, text);
        }
        catch (ApiException refusal)
        {
            throw await RefuseAsync(connector, id, text, refusal, ct);
        }

        var outcome = await AcceptAsync(connector, "hook", e, 0, ct);
        return outcome.Status switch
        {
            "applied" => TypedResults.Ok(Answer("applied", outcome.Result)),
            "stale" => TypedResults.Ok(Answer("stale", null)),
            "replayed" => throw new ApiException(ErrorCodes.Replayed, "This webhook-id was accepted before; nothing was applied again."),
            _ => throw outcome.Refusal!,
        };
    }

    private static Dictionary<string, object?> Answer(string result, object? details)
    {
        var answer = new Dictionary<string, object?> { ["result"] = result };
        if (details is not null)
            foreach (var p in JsonSerializer.SerializeToElement(details, ProtocolJson.Options).EnumerateObject())
                answer[p.Name] = p.Value;
        return answer;
    }

    /// <summary>The body, or null when it is longer than <paramref name="max"/> bytes.</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int max, CancellationToken ct)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = null; // this call enforces its own limit, and logs what it refuses
        return await ConnectorHttp.ReadAsync(request.Body, request.ContentLength, max, ct);
    }

    /// <summary>The event's envelope: wrong types and malformed JSON are <c>invalid_request</c>, with what is wrong.</summary>
    public static InboundEvent Parse(string id, byte[] body, string text)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw ApiException.Invalid("The body is not valid JSON (UTF-8).");
        }
        return Parse(id, root, text);
    }

    public static InboundEvent Parse(string? id, JsonElement root, string text)
    {
        var v = new Validation();
        if (root.ValueKind != JsonValueKind.Object || !JsonStrings.AreValid(root))
            throw ApiException.Invalid("An event is a JSON object of text (no lone surrogate escapes).");
        var given = Member(root, "id");
        if (given is { ValueKind: not JsonValueKind.String })
            v.Add("id", "A string: the event's id.");
        else if (given is { } g && id is not null && g.GetString() != id)
            v.Add("id", "The event's id is its webhook-id.");
        id ??= given?.GetString();
        if (id is null or { Length: 0 or > MaxIdLength })
            v.Add("id", $"Required: 1–{MaxIdLength} characters.");
        var type = Member(root, "type");
        if (type is not { ValueKind: JsonValueKind.String })
            v.Add("type", "Required: " + string.Join(", ", Types) + ".");
        long? version = null;
        if (Member(root, "version") is { } versionValue)
        {
            if (versionValue.ValueKind == JsonValueKind.Number && versionValue.TryGetInt64(out var number) && number >= 0)
                version = number;
            else
                v.Add("version", "A whole number, 0 or more, that grows with every change of the object.");
        }
        long? occurredAt = null;
        if (Member(root, "occurred_at") is { } occurred)
        {
            if (occurred.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(occurred.GetString(), System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.RoundtripKind, out var at))
                occurredAt = at.ToUnixTimeMilliseconds();
            else
                v.Add("occurred_at", "An RFC 3339 time such as 2026-11-25T08:30:00Z.");
        }
        var data = Member(root, "data");
        if (data is not { ValueKind: JsonValueKind.Object })
            v.Add("data", "Required: an object.");
        var typeName = type is { ValueKind: JsonValueKind.String } t ? t.GetString()! : "";
        if (typeName.EndsWith(".upserted", StringComparison.Ordinal) && version is null && occurredAt is null)
            v.Add("version", "An upsert names the object's version (or, without one, occurred_at), so that an older one never overwrites a newer one.");
        v.ThrowIfAny();
        return new InboundEvent(id!, typeName, version, occurredAt, data!.Value, text);
    }

    private static JsonElement? Member(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>
    /// Logs the event as received (holding its id) and applies it; a copy of an id that is held already is
    /// <c>replayed</c>, unless a node that died left it half-way: then this one takes it over.
    /// </summary>
    public async Task<EventOutcome> AcceptAsync(ConnectorRow connector, string source, InboundEvent e, long seq, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var logId = Ids.New("cev", clock);
            var now = Now;
            var stored = await db.ExecuteAsync(StoreReceivedSql, Logged(connector, source, e, logId, now, seq), ct);
            if (stored == 1)
                return await ApplyAsync(connector, logId, e, ct);
            var held = await db.QuerySingleOrDefaultAsync<(string? Id, string? Status, long? ClaimedUntil)>(
                "SELECT id, status, claimed_until FROM connector_events WHERE connector_id = @connectorId AND event_key = @id", new { connectorId = connector.Id, id = e.Id }, ct);
            if (held.Id is null && attempt < 3)
                continue; // refused meanwhile, which frees the id
            if (held.Status == "received" && held.ClaimedUntil < now && await db.ExecuteAsync("""
                    UPDATE connector_events SET claimed_until = @until WHERE id = @id AND status = 'received' AND claimed_until = @seen
                    """, new { id = held.Id, until = now + (long)ClaimFor.TotalMilliseconds, seen = held.ClaimedUntil }, ct) == 1)
                return await ApplyAsync(connector, held.Id!, e, ct);
            await db.ExecuteAsync(StoreReplayedSql, Logged(connector, source, e, Ids.New("cev", clock), now, seq)
                .With("reason", $"Accepted before ({held.Id}); nothing applied again."), ct);
            return new EventOutcome("replayed");
        }
    }

    private const string StoreReceivedSql = """
        INSERT INTO connector_events (id, connector_id, event_id, event_key, source, event_type, external_id, version, occurred_at, body, status,
            received_at, seq, claimed_until)
        VALUES (@logId, @connectorId, @id, @id, @source, @type, @externalId, @version, @occurredAt, @body, 'received', @now, @seq, @claimedUntil)
        ON CONFLICT (connector_id, event_key) DO NOTHING
        """;

    private const string StoreReplayedSql = """
        INSERT INTO connector_events (id, connector_id, event_id, source, event_type, external_id, version, occurred_at, body, status, http_status,
            reason, received_at, seq, finished_at)
        VALUES (@logId, @connectorId, @id, @source, @type, @externalId, @version, @occurredAt, @body, 'replayed', 409, @reason, @now, @seq, @now)
        """;

    /// <summary>
    /// An event of a fetched page into the inbound log, inside the page's transaction: received (to be applied),
    /// replayed (its id is held already: a page fetched again) or refused (not a valid event, with the reason).
    /// </summary>
    public static async Task StorePolledAsync(DbConnection c, DbTransaction t, ConnectorRow connector, JsonElement element, long now, int seq, TimeProvider clock)
    {
        var raw = element.GetRawText();
        InboundEvent e;
        try
        {
            e = Parse(null, element, raw);
        }
        catch (ApiException refusal)
        {
            var id = element.ValueKind == JsonValueKind.Object && element.TryGetProperty("id", out var given) && given.ValueKind == JsonValueKind.String ? given.GetString() : null;
            await c.ExecuteAsync("""
                INSERT INTO connector_events (id, connector_id, event_id, source, body, status, http_status, reason, received_at, seq, finished_at)
                VALUES (@logId, @connectorId, @id, 'poll', @body, 'refused', @status, @reason, @now, @seq, @now)
                """, new { logId = Ids.New("cev", clock), connectorId = connector.Id, id = Shorten(id, MaxIdLength), body = Shorten(raw, MaxLoggedBody),
                status = refusal.Status, reason = Shorten(Reason(refusal), 1000), now, seq }, t);
            return;
        }
        if (await c.ExecuteAsync(StoreReceivedSql, Logged(connector, "poll", e, Ids.New("cev", clock), now, seq), t) == 0)
            await c.ExecuteAsync(StoreReplayedSql, Logged(connector, "poll", e, Ids.New("cev", clock), now, seq).With("reason", "Fetched before; nothing applied again."), t);
    }

    private static DynamicParameters Logged(ConnectorRow connector, string source, InboundEvent e, string logId, long now, long seq)
    {
        var parameters = new DynamicParameters();
        parameters.Add("logId", logId);
        parameters.Add("connectorId", connector.Id);
        parameters.Add("id", e.Id);
        parameters.Add("source", source);
        parameters.Add("type", e.Type);
        parameters.Add("externalId", Shorten(e.ExternalId, 100));
        parameters.Add("version", e.Version, System.Data.DbType.Int64);
        parameters.Add("occurredAt", e.OccurredAt, System.Data.DbType.Int64);
        parameters.Add("body", e.Body); // whole: a received event is applied from it if its node dies first
        parameters.Add("now", now);
        parameters.Add("seq", seq);
        parameters.Add("claimedUntil", now + (long)ClaimFor.TotalMilliseconds);
        return parameters;
    }

    /// <summary>Applies an event that is logged as received under <paramref name="logId"/>, and writes its outcome to the log.</summary>
    public async Task<EventOutcome> ApplyAsync(ConnectorRow connector, string logId, InboundEvent e, CancellationToken ct)
    {
        try
        {
            var result = await ApplyEventAsync(connector, logId, e, ct);
            await db.ExecuteAsync("""
                UPDATE connector_events SET status = 'applied', http_status = 200, result = @result, finished_at = @now, claimed_until = NULL WHERE id = @logId
                """, new { logId, result = JsonSerializer.Serialize(result, ProtocolJson.Options), now = Now }, ct);
            return new EventOutcome("applied", result);
        }
        catch (StaleEvent stale)
        {
            await FinishAsync(logId, "stale", 200, stale.Message, freeId: false, ct);
            return new EventOutcome("stale");
        }
        catch (AlreadyApplied)
        {
            return new EventOutcome("replayed");
        }
        catch (ApiException refusal)
        {
            // Not applied, for a reason the sender can fix: the id is free again for the corrected event.
            var answer = refusal.Code == ErrorCodes.NotFound ? new ApiException(ErrorCodes.Unprocessable, refusal.Message, refusal.Errors) : refusal;
            await FinishAsync(logId, "refused", answer.Status, Reason(answer), freeId: true, ct);
            return new EventOutcome("refused", Refusal: answer);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            // The database or the node failed mid-way: the event stays received, for a retry or another node to take.
            logger.LogWarning(failure, "Applying event {EventId} of connector {ConnectorId} failed; it is applied again later", e.Id, connector.Id);
            await db.ExecuteAsync("UPDATE connector_events SET claimed_until = @now WHERE id = @logId AND status = 'received'", new { logId, now = Now }, CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// Applies the received events of a connector that nobody finished applying, oldest first: those a page stored, and
    /// those whose node died mid-way (<paramref name="onlyUnclaimed"/>: only those whose claim ran out).
    /// </summary>
    public async Task<int> ApplyReceivedAsync(ConnectorRow connector, bool onlyUnclaimed, CancellationToken ct)
    {
        var now = Now;
        var rows = await db.QueryAsync<(string Id, string? EventId, string? Body, long? ClaimedUntil)>($"""
            SELECT id, event_id, body, claimed_until FROM connector_events
            WHERE connector_id = @connectorId AND status = 'received' {(onlyUnclaimed ? "AND claimed_until < @now" : "")}
            ORDER BY received_at, seq LIMIT 500
            """, new { connectorId = connector.Id, now }, ct);
        var applied = 0;
        foreach (var row in rows)
        {
            if (onlyUnclaimed && await db.ExecuteAsync("UPDATE connector_events SET claimed_until = @until WHERE id = @id AND status = 'received' AND claimed_until = @seen",
                    new { id = row.Id, until = now + (long)ClaimFor.TotalMilliseconds, seen = row.ClaimedUntil }, ct) == 0)
                continue; // another node took it
            InboundEvent e;
            try
            {
                using var document = JsonDocument.Parse(row.Body ?? "");
                e = Parse(row.EventId, document.RootElement.Clone(), row.Body!);
            }
            catch (Exception failure) when (failure is JsonException or ApiException)
            {
                await FinishAsync(row.Id, "refused", 400, "The stored event cannot be read again.", freeId: true, ct);
                continue;
            }
            await ApplyAsync(connector, row.Id, e, ct);
            applied++;
        }
        return applied;
    }

    /// <summary>The connectors that have received events whose claim ran out (their node died before applying them).</summary>
    public async Task<IReadOnlyList<ConnectorRow>> WithAbandonedEventsAsync(CancellationToken ct) =>
        await db.QueryAsync<ConnectorRow>($"""
            SELECT {ConnectorRow.Columns} FROM connectors WHERE id IN
                (SELECT connector_id FROM connector_events WHERE status = 'received' AND claimed_until < @now)
            """, new { now = Now }, ct);

    private async Task FinishAsync(string logId, string status, int httpStatus, string reason, bool freeId, CancellationToken ct) =>
        await db.ExecuteAsync($"""
            UPDATE connector_events SET status = @status, http_status = @httpStatus, reason = @reason, finished_at = @now, claimed_until = NULL
                {(freeId ? ", event_key = NULL" : "")}
            WHERE id = @logId AND status = 'received'
            """, new { logId, status, httpStatus, reason = Shorten(reason, 1000), now = Now }, ct);

    /// <summary>Logs a request that is refused before it holds an id, and answers the refusal to throw.</summary>
    private async Task<ApiException> RefuseAsync(ConnectorRow connector, string? eventId, string? body, ApiException refusal, CancellationToken ct, string? reason = null)
    {
        var now = Now;
        await db.ExecuteAsync("""
            INSERT INTO connector_events (id, connector_id, event_id, source, body, status, http_status, reason, received_at, finished_at)
            VALUES (@id, @connectorId, @eventId, 'hook', @body, 'refused', @status, @reason, @now, @now)
            """, new { id = Ids.New("cev", clock), connectorId = connector.Id, eventId, body = Shorten(body, MaxLoggedBody), status = refusal.Status,
            reason = Shorten(reason ?? Reason(refusal), 1000), now }, ct);
        return refusal;
    }

    private static string Reason(ApiException e) =>
        e.Errors is null ? e.Message : $"{e.Message} " + string.Join("; ", e.Errors.Select(f => $"{f.Key}: {string.Join(" ", f.Value)}"));

    private static string? Shorten(string? text, int max) => text is null || text.Length <= max ? text : text[..max];

    private async Task<object> ApplyEventAsync(ConnectorRow connector, string logId, InboundEvent e, CancellationToken ct)
    {
        var principal = connector.Principal();
        switch (e.Type)
        {
            case "order.upserted" or "ticket.upserted" or "care_job.upserted":
                return await UpsertWorkItemAsync(connector, principal, logId, e, ct);
            case "customer.upserted":
            {
                var body = Data<UpsertCustomerRequest>(e);
                var (customer, _) = await customers.UpsertAsync(principal, body, ct, Gate(connector, logId, "customer", body.ExternalId ?? "", e));
                return new { customer_id = customer.Id };
            }
            case "stock.alerted":
            {
                var data = Data<StockEventData>(e);
                var store = await StoreAsync(connector, data.StoreKey, ct);
                // The event's id is the alert's: applied twice (a node died in between), it is posted once.
                var alertId = e.Id.Length <= 64 ? e.Id : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(e.Id)))[..64];
                var message = await alerts.PostAsync(principal, store.Id, new StockAlertRequest(data.Sku, data.Name, data.Quantity, data.Threshold, alertId), ct);
                return new { message_id = message.Id };
            }
            default:
                throw new ApiException(ErrorCodes.Unprocessable, $"Unknown event type '{e.Type}'; one of: {string.Join(", ", Types)}.");
        }
    }

    private async Task<object> UpsertWorkItemAsync(ConnectorRow connector, CurrentUser principal, string logId, InboundEvent e, CancellationToken ct)
    {
        var kind = e.Type[..e.Type.IndexOf('.')];
        if (kind != connector.Kind)
            throw new ApiException(ErrorCodes.Unprocessable, $"This connector drives {connector.Kind} items, not {kind}.");
        var data = Data<WorkItemEventData>(e);
        var v = new Validation();
        var externalId = v.Required("data.external_id", data.ExternalId, 100);
        v.ThrowIfAny();
        string? state = null;
        if (data.Status is not null && !connector.Statuses.TryGetValue(data.Status, out state))
            throw new ApiException(ErrorCodes.Unprocessable, $"The status {data.Status} is not in the connector's status_map.");
        var fieldMap = connector.Fields;
        var fields = data.Fields?.ToDictionary(f => fieldMap.GetValueOrDefault(f.Key) ?? f.Key, f => f.Value);
        var gate = Gate(connector, logId, "work_item", externalId, e);
        for (var attempt = 0; ; attempt++)
        {
            var item = await db.QuerySingleOrDefaultAsync<WorkItemRow>($"""
                SELECT {WorkItemRow.Columns} FROM work_items WHERE org_id = @OrgId AND external_system = @ConnectorKey AND external_id = @externalId
                """, new { connector.OrgId, connector.ConnectorKey, externalId }, ct);
            if (item is not null)
            {
                await items.SyncAsync(principal, item, data.Title, state, fields, gate, ct);
                return new { work_item_id = item.Id };
            }
            if (data.Customer?.ExternalId is null)
                throw new ApiException(ErrorCodes.Unprocessable, "A new work item needs its customer: data.customer with external_id (name and phone optional).",
                    new Dictionary<string, string[]> { ["data.customer"] = ["Required for a new item: {\"external_id\", \"name\"?, \"phone\"?}."] });
            var store = await StoreAsync(connector, data.StoreKey, ct);
            var (customer, _) = await customers.UpsertAsync(principal, data.Customer, ct);
            try
            {
                var created = await items.CreateAsync(principal, new CreateWorkItemRequest(store.Id, null, connector.Kind, connector.TemplateId, customer.Id, null,
                    data.Title ?? externalId, null, null, null, fields, null, null, null, null, null, new ExternalRefDto(connector.ConnectorKey, externalId), null), ct, state, gate);
                return new { work_item_id = created.Id };
            }
            catch (ApiException conflict) when (conflict.Code == ErrorCodes.Conflict && attempt < 3)
            {
                // Another event of the same object created it meanwhile: update that one (the gate decides again).
            }
        }
    }

    /// <summary>The event's store: the one it names (of the connector's organization), else the connector's own.</summary>
    private async Task<StoreRow> StoreAsync(ConnectorRow connector, string? storeKey, CancellationToken ct)
    {
        if (storeKey is not null)
        {
            var store = await access.StoreByKeyAsync(storeKey, ct);
            return store.OrgId == connector.OrgId ? store : throw ApiException.NotFound("The store");
        }
        if (connector.StoreId is not null && await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = connector.StoreId }, ct) is { } own)
            return own;
        throw new ApiException(ErrorCodes.Unprocessable, "Name the store (data.store_key): the connector has no store of its own.");
    }

    private static T Data<T>(InboundEvent e)
    {
        try
        {
            return e.Data.Deserialize<T>(ProtocolJson.Options)!;
        }
        catch (JsonException j)
        {
            throw ApiException.Invalid($"data is not valid for {e.Type}" + (j.Path is { Length: > 0 } path ? $" at {path}." : "."));
        }
    }

    /// <summary>
    /// Runs first in the transaction that applies the event: the log row must still be received (no other node applied
    /// it), and the object's last applied version must be older. Either failing rolls the whole change back.
    /// </summary>
    private Func<DbConnection, DbTransaction, Task> Gate(ConnectorRow connector, string logId, string objectType, string externalId, InboundEvent e) => async (c, t) =>
    {
        var now = Now;
        if (await c.ExecuteAsync("UPDATE connector_events SET status = 'applied', finished_at = @now WHERE id = @logId AND status = 'received'", new { logId, now }, t) == 0)
            throw new AlreadyApplied();
        if (await c.ExecuteAsync(NewerSql, new { connectorId = connector.Id, objectType, externalId, version = e.Version, occurredAt = e.OccurredAt, now }, t) == 0)
        {
            var held = await c.QuerySingleAsync<(long? Version, long? OccurredAt)>(
                "SELECT version, occurred_at FROM connector_objects WHERE connector_id = @connectorId AND object_type = @objectType AND external_id = @externalId",
                new { connectorId = connector.Id, objectType, externalId }, t);
            throw new StaleEvent(held.Version is { } version && e.Version is not null
                ? $"Version {e.Version} is not newer than version {version}, already applied."
                : $"Not newer than the last event applied (occurred at {DateTimeOffset.FromUnixTimeMilliseconds(held.OccurredAt ?? 0):O}).");
        }
    };
}

internal static class DynamicParametersExtensions
{
    public static DynamicParameters With(this DynamicParameters parameters, string name, object? value)
    {
        parameters.Add(name, value);
        return parameters;
    }
}
