using System.Threading.Channels;
using Dapper;
using StoreLink.Server.Data;

namespace StoreLink.Server.Desk;

/// <summary>
/// "Something changed that may let a waiting conversation be assigned in this store": an agent freed up, came
/// online, was added; a queue changed; a conversation started waiting. Signals are coalesced and handled by one loop,
/// which also sweeps every store with waiting conversations periodically (opening time, missed signals, other nodes).
/// </summary>
public sealed class DeskSignals
{
    private readonly Channel<string> _stores = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });

    public void Drain(string storeId) => _stores.Writer.TryWrite(storeId);

    internal ChannelReader<string> Reader => _stores.Reader;
}

internal sealed class DrainLoop(DeskSignals signals, Router router, Db db, TimeProvider clock, ILogger<DrainLoop> logger) : BackgroundService
{
    public static readonly TimeSpan Sweep = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sweep = SweepAsync(stoppingToken);
        var pending = new HashSet<string>();
        while (await signals.Reader.WaitToReadAsync(stoppingToken))
        {
            while (signals.Reader.TryRead(out var storeId))
                pending.Add(storeId);
            foreach (var storeId in pending)
                await DrainAsync(storeId, stoppingToken);
            pending.Clear();
        }
        await sweep;
    }

    private async Task SweepAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Sweep, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    foreach (var storeId in await db.QueryAsync<string>(
                        "SELECT DISTINCT store_id FROM conversations WHERE waiting_since IS NOT NULL AND assignee_id IS NULL AND state <> 'resolved'", ct: stoppingToken))
                        signals.Drain(storeId);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Looking for waiting conversations failed");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DrainAsync(string storeId, CancellationToken ct)
    {
        try
        {
            await router.DrainAsync(storeId, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Assigning waiting conversations of store {Store} failed; the next sweep retries", storeId);
        }
    }
}
