using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Integrations;

/// <summary>
/// Polling connectors, on every node: a connector whose poll is due is taken with a lease (a claim token and its end,
/// set by one conditional update, so two nodes never poll it at once), its changes feed is fetched page by page, and
/// each page's events are stored together with the new cursor in one transaction that only commits while this node's
/// claim still stands. A crash repeats a page at worst (nothing of it was committed) and never skips one; stored events
/// are applied from the inbound log, so a crash after the commit leaves them for the next poll. Failures are logged on
/// the connector and retried at the next interval. Each round also applies events of any connector that a node stored
/// and then died before applying.
/// </summary>
public sealed class ConnectorPoller(Db db, ConnectorHttp http, ConnectorEvents events, IOptionsMonitor<ConnectorOptions> options, TimeProvider clock,
    ILogger<ConnectorPoller> logger) : BackgroundService
{
    /// <summary>The most pages one poll reads before it gives the next connector a turn (the rest follows at once).</summary>
    public const int MaxPagesPerPoll = 20;
    private const int MaxCursorLength = 1000;
    private const int MaxPageBytes = 16 * 1024 * 1024;

    private sealed record Page(List<JsonElement> Events, string? NextCursor, bool HasMore);

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunDueAsync(stoppingToken);
                foreach (var connector in await events.WithAbandonedEventsAsync(stoppingToken))
                    await events.ApplyReceivedAsync(connector, onlyUnclaimed: true, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Connector polling failed; will try again");
            }
            try
            {
                await Task.Delay(options.CurrentValue.LoopInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Polls every connector whose poll is due and that no node holds; answers how many this node polled.</summary>
    public async Task<int> RunDueAsync(CancellationToken ct)
    {
        var polled = 0;
        var due = await db.QueryAsync<string>("""
            SELECT id FROM connectors WHERE mode = 'polling' AND active = 1 AND next_poll_at <= @now AND (poll_lease_until IS NULL OR poll_lease_until < @now)
            ORDER BY next_poll_at LIMIT 20
            """, new { now = Now }, ct);
        foreach (var id in due)
        {
            var token = Ids.New("plc", clock);
            var now = Now;
            var claimed = await db.ExecuteAsync("""
                UPDATE connectors SET poll_claim = @token, poll_lease_until = @until
                WHERE id = @id AND mode = 'polling' AND active = 1 AND next_poll_at <= @now AND (poll_lease_until IS NULL OR poll_lease_until < @now)
                """, new { id, token, until = now + Lease, now }, ct);
            if (claimed == 0)
                continue; // another node took it
            var connector = await db.QuerySingleOrDefaultAsync<ConnectorRow>($"SELECT {ConnectorRow.Columns} FROM connectors WHERE id = @id", new { id }, ct);
            if (connector is null)
                continue;
            await PollAsync(connector, token, ct);
            polled++;
        }
        return polled;
    }

    // Long enough for a fetch and the page's commit; renewed with every page.
    private long Lease => (long)(options.CurrentValue.PollTimeout + TimeSpan.FromSeconds(30)).TotalMilliseconds;

    private async Task PollAsync(ConnectorRow connector, string token, CancellationToken ct)
    {
        string? error = null;
        var more = false;
        try
        {
            // Events a page stored before this node (or another) stopped come first.
            await events.ApplyReceivedAsync(connector, onlyUnclaimed: false, ct);
            for (var pages = 0; pages < MaxPagesPerPoll; pages++)
            {
                var page = await FetchAsync(connector, ct);
                if (!await StoreAsync(connector, token, page, ct))
                    return; // the lease ran out and another node polls now: nothing of this page was committed
                connector.PollCursor = page.NextCursor ?? connector.PollCursor;
                await events.ApplyReceivedAsync(connector, onlyUnclaimed: false, ct);
                more = page.HasMore && page.NextCursor is not null;
                if (!more)
                    break;
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            error = e is ApiException or HttpRequestException or OperationCanceledException or JsonException
                ? ConnectorHttp.Describe(e, options.CurrentValue.PollTimeout) : e.Message;
            logger.LogWarning("Polling connector {ConnectorId} failed: {Error}; retried at the next interval", connector.Id, error);
        }
        var now = Now;
        await db.ExecuteAsync("""
            UPDATE connectors SET next_poll_at = @next, poll_claim = NULL, poll_lease_until = NULL, last_poll_at = @now, last_poll_error = @error
            WHERE id = @id AND poll_claim = @token
            """, new
        {
            id = connector.Id, token, now, error = error is { Length: > 500 } ? error[..500] : error,
            next = more ? now : now + (connector.PollIntervalSeconds ?? 60) * 1000,
        }, CancellationToken.None);
    }

    /// <summary><c>GET {base_url}/changes?cursor=…&amp;limit=…</c>, signed; anything but a well-formed page is a failure.</summary>
    private async Task<Page> FetchAsync(ConnectorRow connector, CancellationToken ct)
    {
        var timeout = options.CurrentValue.PollTimeout;
        var query = $"changes?limit={options.CurrentValue.PageLimit}" + (connector.PollCursor is null ? "" : "&cursor=" + Uri.EscapeDataString(connector.PollCursor));
        using var request = http.Signed(connector, HttpMethod.Get, connector.UrlOf(query));
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timer.Token);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"The changes feed answered HTTP {(int)response.StatusCode}.");
        var body = await ConnectorHttp.ReadAsync(response, MaxPageBytes, timer.Token)
            ?? throw new HttpRequestException($"The changes feed answered more than {MaxPageBytes} bytes.");
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new HttpRequestException("The changes feed did not answer JSON.");
        }
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("events", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new HttpRequestException("The changes feed answered no events array ({\"events\":[…],\"next_cursor\":…,\"has_more\":…}).");
        var next = root.TryGetProperty("next_cursor", out var cursor) && cursor.ValueKind == JsonValueKind.String ? cursor.GetString() : null;
        if (next is { Length: > MaxCursorLength })
            throw new HttpRequestException($"next_cursor is longer than {MaxCursorLength} characters.");
        var hasMore = root.TryGetProperty("has_more", out var flag) && flag.ValueKind == JsonValueKind.True;
        return new Page([.. list.EnumerateArray()], next, hasMore);
    }

    /// <summary>
    /// One transaction: the new cursor (only while this node's claim stands, which also renews the lease) and every event
    /// of the page in the inbound log — received, replayed (an id held already) or refused (not a valid event).
    /// </summary>
    private async Task<bool> StoreAsync(ConnectorRow connector, string token, Page page, CancellationToken ct) =>
        await db.InTransactionAsync(async (c, t) =>
        {
            var now = Now;
            if (await c.ExecuteAsync("""
                    UPDATE connectors SET poll_cursor = COALESCE(@cursor, poll_cursor), poll_lease_until = @until WHERE id = @id AND poll_claim = @token
                    """, new { id = connector.Id, token, cursor = page.NextCursor, until = now + Lease }, t) == 0)
                return false;
            for (var i = 0; i < page.Events.Count; i++)
                await ConnectorEvents.StorePolledAsync(c, t, connector, page.Events[i], now, i, clock);
            return true;
        }, ct);
}
