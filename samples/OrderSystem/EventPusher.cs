using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Client;

namespace OrderSystem;

/// <summary>
/// Pushes the outbox to StoreLink's inbound hook (<c>POST /v1/hooks/{connector}</c>), signed with the connector's
/// secret, oldest first. An event is done when StoreLink answers 200 (applied or stale) or 409 replayed (it had it);
/// 400 and 422 are final refusals, kept with StoreLink's reason; anything else (down, 5xx, a timeout) is tried again
/// with a growing pause, and the events behind it wait, so they arrive in their order.
/// </summary>
public sealed class EventPusher(Database db, Credentials credentials, IHttpClientFactory http, TimeProvider clock,
    IOptions<OrderSystemOptions> options, ILogger<EventPusher> logger) : BackgroundService
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Wake() => _wake.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (options.Value.PushEvents)
                    await PushDueAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Pushing events to StoreLink failed; trying again");
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wait.CancelAfter(options.Value.PollInterval);
            try
            {
                await _wake.Reader.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    private sealed record PendingEvent(long Seq, string Id, string Body, long Attempts, long NextAttemptAt);

    /// <summary>Pushes what is due, in order, until one is not taken. Answers how many StoreLink took.</summary>
    public async Task<int> PushDueAsync(CancellationToken ct)
    {
        var link = await credentials.CurrentAsync();
        if (!link.Connected)
            return 0;
        List<PendingEvent> pending;
        await using (var c = await db.OpenAsync(ct))
            pending = (await c.QueryAsync<PendingEvent>(
                "SELECT seq, id, body, attempts, next_attempt_at FROM events WHERE status = 'pending' ORDER BY seq LIMIT 100")).AsList();
        var pushed = 0;
        foreach (var e in pending)
        {
            var now = clock.GetUtcNow();
            if (e.NextAttemptAt > now.ToUnixTimeMilliseconds())
                break;
            var (status, result) = await SendAsync(link, e, now, ct);
            var outcome = status switch
            {
                200 => "delivered",
                400 or 422 => "refused",
                _ => "pending",
            };
            var retryIn = Math.Min(options.Value.MaxRetryDelay.TotalMilliseconds, 1000 * Math.Pow(2, Math.Min(e.Attempts, 16)));
            await using (var c = await db.OpenAsync(ct))
                await c.ExecuteAsync("""
                    UPDATE events SET status = @outcome, attempts = attempts + 1, last_result = @result, next_attempt_at = @next WHERE seq = @seq
                    """, new { outcome, result = $"{status} {result}", next = now.ToUnixTimeMilliseconds() + (long)retryIn, seq = e.Seq });
            if (outcome == "pending")
            {
                logger.LogInformation("StoreLink did not take event {Event} ({Status}); next try in {Delay} ms", e.Id, status, retryIn);
                break;
            }
            pushed++;
        }
        return pushed;
    }

    private async Task<(int Status, string Result)> SendAsync(StoreLinkCredentials link, PendingEvent e, DateTimeOffset now, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var client = new StoreLinkClient(http.CreateClient("storelink"));
            var answer = await client.SendHookAsync(link.ConnectorId!, link.ConnectorSecret!, e.Id, e.Body, now, timeout.Token);
            return (answer.Delivered ? 200 : answer.Status, answer.Body.ValueKind == JsonValueKind.Undefined ? "" : answer.Body.GetRawText());
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (0, ex.Message);
        }
    }

    /// <summary>The changes feed for a polling connector: events after <paramref name="cursor"/>, oldest first.</summary>
    public async Task<object> ChangesAsync(string? cursor, int limit)
    {
        var after = long.TryParse(cursor, out var c) && c > 0 ? c : 0;
        var take = Math.Clamp(limit, 1, 500);
        await using var connection = await db.OpenAsync();
        var rows = (await connection.QueryAsync<(long Seq, string Body)>(
            "SELECT seq, body FROM events WHERE seq > @after ORDER BY seq LIMIT @take", new { after, take = take + 1 })).AsList();
        var page = rows.Take(take).ToList();
        return new
        {
            events = page.Select(r => JsonDocument.Parse(r.Body).RootElement),
            next_cursor = (page.Count > 0 ? page[^1].Seq : after).ToString(System.Globalization.CultureInfo.InvariantCulture),
            has_more = rows.Count > take,
        };
    }
}
