namespace StoreLink.Tests.Infrastructure;

/// <summary>Waits for a condition with a generous deadline (the machine may be busy), never for a fixed time.</summary>
public static class Eventually
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(what ?? "The condition did not hold in time.");
            await Task.Delay(50);
        }
    }
}
