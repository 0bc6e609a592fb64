namespace StoreLink.Server.Calls;

/// <summary>
/// Ends what nobody ends by hand: unanswered rings, silent participants, and the calls of a node that died. Wakes every
/// second on <see cref="TimeProvider"/>; every node runs one, and each change is conditional on the call's row
/// (<see cref="CallActions"/>), so two nodes never end a call twice.
/// </summary>
public sealed class CallSweeper(CallActions calls, TimeProvider clock, ILogger<CallSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock);
        do
        {
            try
            {
                await calls.SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Sweeping calls failed; trying again in a second");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
