using System.Diagnostics;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Dapper;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Integrations;

/// <summary>
/// Delivers the outbox: due <c>webhook_deliveries</c> rows are claimed by pushing their due time past the attempt's
/// timeout (a lease), POSTed signed, and then marked succeeded, scheduled again with exponential backoff and jitter,
/// or — once a failure comes after the retry period — dead. A node that dies mid-attempt leaves its rows due again
/// when the lease ends, so nothing committed is lost (at least once; receivers de-duplicate by <c>webhook-id</c>).
/// On PostgreSQL nodes claim with <c>FOR UPDATE SKIP LOCKED</c>, so two nodes never take the same row at once.
/// Woken after commit by the change's real-time event and by API calls; polls as a fallback.
/// </summary>
public sealed class WebhookDispatcher : BackgroundService
{
    private readonly Db _db;
    private readonly IOptionsMonitor<WebhookOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly HttpClient _http;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly AttemptSlots _slots;
    private readonly string _claimSql;
    // Whether this organization-wide installation has any active subscription: without one, real-time events do not
    // wake the loop at all (refreshed at every poll and whenever this node changes a subscription).
    private volatile bool _anySubscriptions = true;
    private long _seenWritten;
    private long _checkedSubscriptionsAt;

    public WebhookDispatcher(Db db, WebhookTargets targets, OutboxSignal outbox, IOptionsMonitor<WebhookOptions> options, IEventBus bus, TimeProvider clock,
        ILogger<WebhookDispatcher> logger)
    {
        _db = db;
        _options = options;
        _clock = clock;
        _logger = logger;
        _slots = new AttemptSlots(options.CurrentValue.Concurrency);
        _http = targets.NewClient("StoreLink-Webhooks/1");
        _claimSql = $"""
            UPDATE webhook_deliveries SET next_attempt_at = @leaseUntil
            WHERE (subscription_id, event_id) IN (
                SELECT d.subscription_id, d.event_id FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND s.active = 1
                ORDER BY d.next_attempt_at LIMIT @take {(db.Dialect.IsPostgres ? "FOR UPDATE OF d SKIP LOCKED" : "")})
              AND status = 'pending' AND next_attempt_at <= @now
            RETURNING {WebhookDeliveryRow.Columns}
            """;
        // The change's real-time event comes after its commit; wake only if some transaction wrote deliveries since the
        // last look (typing, presence, receipts and most messages write none), else the poll finds them.
        bus.Subscribe(_ =>
        {
            var written = outbox.Written;
            if (_anySubscriptions && Interlocked.Exchange(ref _seenWritten, written) != written)
                Wake();
            return ValueTask.CompletedTask;
        });
    }

    /// <summary>Look for due deliveries now (after a commit that wrote some, a redelivery, a ping).</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    public void SubscriptionsChanged()
    {
        _anySubscriptions = true;
        Wake();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunDueAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning(e, "Webhook dispatch failed; will try again");
            }
            await AttemptSlots.WaitAsync(_wake.Reader, _options.CurrentValue.PollInterval, stoppingToken);
            // Once per poll interval, also under a steady stream of wake-ups (which would never let the wait time out).
            if (!stoppingToken.IsCancellationRequested && _clock.GetElapsedTime(_checkedSubscriptionsAt) >= _options.CurrentValue.PollInterval)
            {
                _checkedSubscriptionsAt = _clock.GetTimestamp();
                _anySubscriptions = await AnySubscriptionsAsync(stoppingToken);
            }
        }
        // Attempts in flight finish (each is bounded by its timeout); an attempt cut off by the host's own shutdown
        // timeout stays leased and is due again after the lease.
        await _slots.DrainAsync();
    }

    private async Task<bool> AnySubscriptionsAsync(CancellationToken ct)
    {
        try
        {
            return await _db.QuerySingleOrDefaultAsync<long?>("SELECT 1 FROM webhook_subscriptions WHERE active = 1 LIMIT 1", null, ct) is not null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return true;
        }
    }

    private async Task RunDueAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var free = _slots.Free;
            if (free == 0)
                return; // a finishing attempt wakes the loop
            var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
            // A read first: on SQLite an UPDATE takes the write lock even when it matches nothing.
            if (await _db.QuerySingleOrDefaultAsync<long?>(
                    """
                    SELECT 1 FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
                    WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND s.active = 1 LIMIT 1
                    """, new { now }, ct) is null)
                return;
            var lease = (long)(_options.CurrentValue.Timeout + TimeSpan.FromSeconds(10)).TotalMilliseconds;
            var claimed = await _db.QueryAsync<WebhookDeliveryRow>(_claimSql, new { now, leaseUntil = now + lease, take = free }, ct);
            if (claimed.Count == 0)
                return;
            _anySubscriptions = true;
            var ids = claimed.Select(d => d.SubscriptionId).Distinct().ToList();
            var subscriptions = (await _db.QueryAsync<WebhookSubscriptionRow>(
                $"SELECT {WebhookSubscriptionRow.Columns} FROM webhook_subscriptions WHERE {_db.Dialect.In("id", "@ids")}", new { ids }, ct)).ToDictionary(s => s.Id);
            foreach (var delivery in claimed)
            {
                if (!subscriptions.TryGetValue(delivery.SubscriptionId, out var subscription))
                    continue; // deleted meanwhile: its deliveries went with it
                await _slots.StartAsync(() => AttemptAsync(subscription, delivery), Wake, ct);
            }
        }
    }

    private async Task AttemptAsync(WebhookSubscriptionRow subscription, WebhookDeliveryRow delivery)
    {
        var options = _options.CurrentValue;
        var started = _clock.GetUtcNow();
        var stopwatch = Stopwatch.StartNew();
        int? status = null;
        string? error = null;
        try
        {
            using var timeout = new CancellationTokenSource(options.Timeout);
            var timestamp = started.ToUnixTimeSeconds();
            using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Url)
            {
                Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("webhook-id", delivery.EventId);
            request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Headers.Add("webhook-signature", WebhookSignature.Sign(subscription.Secret, delivery.EventId, timestamp, delivery.Payload));
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode)
                    error = $"HTTP {status} {response.ReasonPhrase}".Trim();
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                error = $"No answer within {options.Timeout.TotalSeconds:0.###} s.";
            }
            catch (HttpRequestException e) when (e.InnerException is WebhookTargetRefusedException refused)
            {
                error = refused.Message;
            }
            catch (HttpRequestException e)
            {
                error = e.HttpRequestError == HttpRequestError.Unknown ? e.Message : $"{e.HttpRequestError}: {e.Message}";
            }
        }
        catch (Exception e)
        {
            error = e.Message;
        }
        stopwatch.Stop();
        try
        {
            await RecordAsync(delivery, started, stopwatch.ElapsedMilliseconds, status, error, options);
        }
        catch (Exception e)
        {
            // The row stays leased and is attempted again when the lease ends.
            _logger.LogWarning(e, "Recording webhook attempt of {EventId} failed", delivery.EventId);
        }
    }

    private async Task RecordAsync(WebhookDeliveryRow delivery, DateTimeOffset started, long durationMs, int? status, string? error, WebhookOptions options)
    {
        var succeeded = error is null;
        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        var round = delivery.RoundAttempts + 1;
        string state;
        long next = now;
        if (succeeded)
            state = "succeeded";
        else if (now - delivery.RetryFrom >= (long)options.RetryPeriod.TotalMilliseconds)
            state = "dead";
        else
        {
            state = "pending";
            next = now + (long)Backoff(round, options).TotalMilliseconds;
        }
        await _db.InTransactionAsync(async (c, t) =>
        {
            await c.ExecuteAsync("""
                INSERT INTO webhook_attempts (id, subscription_id, event_id, attempted_at, duration_ms, status_code, error, succeeded)
                VALUES (@id, @SubscriptionId, @EventId, @at, @durationMs, @status, @error, @ok)
                """, new { id = Ids.New("wha", _clock), delivery.SubscriptionId, delivery.EventId, at = started.ToUnixTimeMilliseconds(), durationMs, status, error, ok = succeeded ? 1 : 0 }, t);
            await c.ExecuteAsync("""
                UPDATE webhook_deliveries SET status = @state, next_attempt_at = @next, attempts = attempts + 1, round_attempts = @round,
                    last_status = @status, last_error = @error, last_attempt_at = @at, finished_at = @finished
                WHERE subscription_id = @SubscriptionId AND event_id = @EventId
                """, new
            {
                state, next, round, status, error = error is { Length: > 500 } ? error[..500] : error, at = started.ToUnixTimeMilliseconds(),
                finished = state == "pending" ? (long?)null : now, delivery.SubscriptionId, delivery.EventId,
            }, t);
        });
        if (state == "dead")
            _logger.LogWarning("Webhook delivery {EventId} to {SubscriptionId} is dead after {Attempts} attempts: {Error}",
                delivery.EventId, delivery.SubscriptionId, delivery.Attempts + 1, error);
    }

    /// <summary>The delay before retry <paramref name="round"/>: doubling from the first delay up to the cap, ±25 % jitter.</summary>
    public static TimeSpan Backoff(long round, WebhookOptions options) => Backoff(round, options.FirstRetryDelay, options.MaxRetryDelay);

    public static TimeSpan Backoff(long round, TimeSpan first, TimeSpan max)
    {
        var exponential = first.TotalMilliseconds * Math.Pow(2, Math.Min(round - 1, 30));
        var capped = Math.Min(exponential, max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.75 + Random.Shared.NextDouble() * 0.5));
    }

    public override void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
        base.Dispose();
    }
}
