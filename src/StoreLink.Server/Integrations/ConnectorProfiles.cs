using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Data;

namespace StoreLink.Server.Integrations;

/// <summary>
/// Customer profiles from the store's own system (<c>GET {base_url}/customers/{external_id}</c>, signed), for the
/// customer panel: cached in the database for <c>Connectors:ProfileCacheTtl</c> (shared by every node), fetched in the
/// background with a time limit of their own, and waited for at most <c>Connectors:ProfileWait</c> — a slower answer is
/// <c>pending</c> and lands in the cache for the next look. One fetch per customer at a time on a node.
/// </summary>
public sealed class ConnectorProfiles(Db db, ConnectorHttp http, IOptionsMonitor<ConnectorOptions> options, TimeProvider clock, IHostApplicationLifetime lifetime,
    ILogger<ConnectorProfiles> logger)
{
    private const int MaxAnswerBytes = 256 * 1024;
    // A failed look-up is asked again sooner than a good answer expires.
    private static readonly TimeSpan FailureTtl = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<(string, string), Task> _fetching = new();

    private sealed class CachedRow
    {
        public string Status { get; set; } = "";
        public string? Body { get; set; }
        public long FetchedAt { get; set; }
    }

    /// <summary>
    /// The profile of the customer with <paramref name="externalId"/> from the organization's look-up connector (the
    /// store's own first); null when there is no such connector or the customer has no external id.
    /// </summary>
    public async Task<ExternalProfileDto?> LookupAsync(string orgId, string? storeId, string? externalId, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(externalId))
            return null;
        var connector = await db.QuerySingleOrDefaultAsync<ConnectorRow>($"""
            SELECT {ConnectorRow.Columns} FROM connectors WHERE org_id = @orgId AND active = 1 AND profile_lookup = 1
            ORDER BY CASE WHEN store_id = @storeId THEN 0 ELSE 1 END, created_at, id LIMIT 1
            """, new { orgId, storeId }, ct);
        if (connector is null)
            return null;
        var cached = await CachedAsync(connector.Id, externalId, ct);
        if (cached is not null && Fresh(cached))
            return ToDto(cached);
        var fetch = _fetching.GetOrAdd((connector.Id, externalId), key =>
        {
            var task = Task.Run(() => FetchAsync(connector, externalId), CancellationToken.None);
            _ = task.ContinueWith(_ => _fetching.TryRemove(key, out var _), TaskScheduler.Default);
            return task;
        });
        try
        {
            await fetch.WaitAsync(options.CurrentValue.ProfileWait, clock, ct);
        }
        catch (TimeoutException)
        {
            // Not in yet: what was known before, if anything, marked pending.
            return cached is null ? new ExternalProfileDto("pending", null, null, null) : ToDto(cached) with { Status = "pending" };
        }
        return await CachedAsync(connector.Id, externalId, ct) is { } fetched ? ToDto(fetched) : new ExternalProfileDto("unavailable", null, null, null);
    }

    private Task<CachedRow?> CachedAsync(string connectorId, string externalId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<CachedRow>("SELECT status, body, fetched_at FROM connector_profiles WHERE connector_id = @connectorId AND external_id = @externalId",
            new { connectorId, externalId }, ct);

    private bool Fresh(CachedRow row) =>
        clock.GetUtcNow().ToUnixTimeMilliseconds() - row.FetchedAt < (row.Status == "error" ? FailureTtl : options.CurrentValue.ProfileCacheTtl).TotalMilliseconds;

    private static ExternalProfileDto ToDto(CachedRow row)
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(row.FetchedAt);
        if (row.Status != "ok" || row.Body is null)
            return new ExternalProfileDto("unavailable", at, null, null);
        var body = JsonDocument.Parse(row.Body).RootElement;
        return new ExternalProfileDto("ok", at, body.GetProperty("customer").Clone(), body.TryGetProperty("orders", out var orders) ? orders.Clone() : null);
    }

    /// <summary>Asks the system and caches what it says: ok (its customer and orders), not_found (404), or error.</summary>
    private async Task FetchAsync(ConnectorRow connector, string externalId)
    {
        string status;
        string? body = null;
        try
        {
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            timer.CancelAfter(options.CurrentValue.ProfileTimeout);
            using var request = http.Signed(connector, HttpMethod.Get, connector.UrlOf("customers/" + Uri.EscapeDataString(externalId)));
            using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timer.Token);
            if (response.StatusCode == HttpStatusCode.NotFound)
                status = "not_found";
            else if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"The system answered HTTP {(int)response.StatusCode}.");
            else
            {
                body = Profile(await ConnectorHttp.ReadAsync(response, MaxAnswerBytes, timer.Token));
                status = body is null ? "error" : "ok";
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested)
                return;
            logger.LogWarning("Profile look-up of {ExternalId} at connector {ConnectorId} failed: {Error}", externalId, connector.Id,
                ConnectorHttp.Describe(e, options.CurrentValue.ProfileTimeout));
            status = "error";
        }
        try
        {
            await db.ExecuteAsync("""
                INSERT INTO connector_profiles (connector_id, external_id, status, body, fetched_at) VALUES (@connectorId, @externalId, @status, @body, @now)
                ON CONFLICT (connector_id, external_id) DO UPDATE SET status = excluded.status, body = excluded.body, fetched_at = excluded.fetched_at
                """, new { connectorId = connector.Id, externalId, status, body, now = clock.GetUtcNow().ToUnixTimeMilliseconds() }, CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Caching the profile of {ExternalId} failed", externalId);
        }
    }

    /// <summary>The answer as stored: <c>{"customer":{…},"orders":[…]}</c> with only those two members; null when it is not that shape.</summary>
    private static string? Profile(string? answer)
    {
        try
        {
            using var document = JsonDocument.Parse(answer ?? "");
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("customer", out var customer) || customer.ValueKind != JsonValueKind.Object
                || !Http.JsonStrings.AreValid(root) || Http.JsonStrings.DepthOf(customer) > Http.JsonStrings.MaxKeptDepth)
                return null;
            var orders = root.TryGetProperty("orders", out var list) && list.ValueKind == JsonValueKind.Array && Http.JsonStrings.DepthOf(list) <= Http.JsonStrings.MaxKeptDepth
                ? list : (JsonElement?)null;
            return JsonSerializer.Serialize(new { customer, orders }, ProtocolJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
