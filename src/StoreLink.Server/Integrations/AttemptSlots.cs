using System.Threading.Channels;

namespace StoreLink.Server.Integrations;

/// <summary>
/// The outbound dispatchers' bookkeeping: at most so many attempts in flight on this node, each run off the loop, and
/// the ones still running awaited at shutdown (each is bounded by its own timeout).
/// </summary>
internal sealed class AttemptSlots(int size) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(size);
    private readonly HashSet<Task> _inFlight = [];

    public int Free => _slots.CurrentCount;

    /// <summary>Runs <paramref name="attempt"/> in a free slot (waiting for one); <paramref name="finished"/> follows it.</summary>
    public async Task StartAsync(Func<Task> attempt, Action finished, CancellationToken ct)
    {
        await _slots.WaitAsync(ct);
        var task = Task.Run(attempt, CancellationToken.None);
        lock (_inFlight)
            _inFlight.Add(task);
        _ = task.ContinueWith(t =>
        {
            lock (_inFlight)
                _inFlight.Remove(t);
            _slots.Release();
            finished();
        }, TaskScheduler.Default);
    }

    public Task DrainAsync()
    {
        Task[] running;
        lock (_inFlight)
            running = [.. _inFlight];
        return Task.WhenAll(running);
    }

    /// <summary>Until something wakes the loop or <paramref name="interval"/> has passed (or the host stops).</summary>
    public static async Task WaitAsync(ChannelReader<bool> wake, TimeSpan interval, CancellationToken ct)
    {
        try
        {
            using var poll = CancellationTokenSource.CreateLinkedTokenSource(ct);
            poll.CancelAfter(interval);
            await wake.WaitToReadAsync(poll.Token);
            wake.TryRead(out _);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose() => _slots.Dispose();
}
