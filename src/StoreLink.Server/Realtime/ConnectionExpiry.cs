namespace StoreLink.Server.Realtime;

/// <summary>
/// A socket lives no longer than its token: once a second, this node's connections whose token has run out are closed
/// with 4001 (the client signs in again, or re-authenticates with an <c>auth</c> frame before the deadline). One walk
/// over every connection costs less than a timer per connection, and it follows the server's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class ConnectionExpiry(ConnectionRegistry registry, TimeProvider clock) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = clock.GetUtcNow();
            foreach (var connection in registry.All)
                if (connection.ExpiredAt(now))
                    connection.Close(CloseCodes.Unauthorized, "token expired");
        }
    }
}
